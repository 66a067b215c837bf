"""A tiny authoritative DNS responder on 127.0.0.1 (UDP, a thread) built on dnspython's message API.

Records are `{(name, type): [rdata text]}`; a name with no records of the asked type but others answers
NOERROR with no answer (NoAnswer), an unknown name NXDOMAIN, and names in `servfail` SERVFAIL.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    servfail: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif (name, rdtype) in self.records:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, *self.records[name, rdtype]))
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


@contextmanager
def dns_server(zone: Zone) -> Iterator[int]:
    """Serve `zone` on 127.0.0.1 and yield the UDP port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue
            sock.sendto(zone.answer(query).to_wire(), peer)

    thread = threading.Thread(target=serve, name="warmup-test-dns", daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()
