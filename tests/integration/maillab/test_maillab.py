"""The local mail lab, exercised over real SMTP and IMAP the way Kindling's workers will use it."""

from __future__ import annotations

import asyncio
import base64
import imaplib
import os
import smtplib
import socket
import ssl
import uuid
from pathlib import Path

import aiosmtplib
import pytest

from devstack.maillab import DEMO_ACCOUNTS, MailAccount, MailLab, junk_verdict

pytestmark = pytest.mark.mail


def _message(sender: str, recipient: str, message_id: str, subject: str = "Lab test") -> bytes:
    # Odd-but-legal header details (folding, case, order) that a faithful MTA must not touch.
    return (
        f"From: Sender <{sender}>\r\n"
        f"To: <{recipient}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n"
        "X-Campaign-Id: cmp_123\r\n"
        "x-lowercase-header: kept as is\r\n"
        "X-Folded: first part\r\n"
        "\tsecond part\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Hello from the mail lab.\r\n"
        "..a line that starts with a dot\r\n"
    ).encode()


def _new_id(tag: str) -> str:
    return f"<{tag}.{uuid.uuid4().hex}@kindling.test>"


def _account(lab: MailLab, local: str) -> MailAccount:
    return next(a for a in lab.accounts if a.email.startswith(local + "@"))


def _raw_by_id(lab: MailLab, address: str, folder: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for raw in lab.fetch_raw(address, folder):
        # splitlines: pymap (the fallback) serves stored LF line endings, Dovecot CRLF.
        for line in raw.splitlines():
            if line.lower().startswith(b"message-id:"):
                out[line.split(b":", 1)[1].strip().decode()] = raw
                break
    return out


def _wait_for_id(lab: MailLab, address: str, folder: str, message_id: str) -> bytes:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = _raw_by_id(lab, address, folder)
        if message_id in found:
            return found[message_id]
        time.sleep(0.05)
    raise AssertionError(f"{message_id} did not arrive in {address} {folder}")


def _assert_faithful(delivered: bytes, original: bytes) -> None:
    """Delivery may only prepend trace headers (Return-Path, Received); the rest is byte-identical."""
    assert delivered.endswith(original)
    prefix = delivered[: len(delivered) - len(original)]
    assert prefix.startswith(b"Return-Path: <")
    assert b"\r\nReceived: from " in prefix


# -- the demo set ------------------------------------------------------------------------------
def test_demo_accounts_cover_two_providers_and_every_security(mail_lab: MailLab) -> None:
    demo = mail_lab.accounts[: len(DEMO_ACCOUNTS)]
    assert len(demo) == 4
    assert {a.provider for a in demo} == {"lab-mail", "lab-junk"}
    assert {a.email.split("@")[1] for a in demo} == {"lab-mail.test", "lab-junk.test"}
    assert {a.smtp_security for a in demo} == {"starttls", "ssl"}
    assert {a.imap_security for a in demo} == {"starttls", "ssl"}
    assert list(demo[0].as_dict()) == [
        "email",
        "password",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "imap_host",
        "imap_port",
        "imap_security",
        "provider",
    ]
    assert all(a.smtp_host == "127.0.0.1" and a.imap_host == "127.0.0.1" for a in demo)
    assert mail_lab.imap_backend == "dovecot"
    assert mail_lab.started_in is not None and mail_lab.started_in < 15


def test_junk_verdict_is_stable_and_roughly_proportional() -> None:
    # Pinned values: the verdict must not depend on the process (no salted hash()).
    assert [junk_verdict(f"<m{i}@x>", 0.3, seed=0) for i in range(8)] == [
        junk_verdict(f"<m{i}@x>", 0.3, seed=0) for i in range(8)
    ]
    assert junk_verdict(" <a@b> ", 0.5, seed=7) == junk_verdict("<a@b>", 0.5, seed=7)
    share = sum(junk_verdict(f"<id-{i}@x>", 0.3) for i in range(2000)) / 2000
    assert 0.25 < share < 0.35
    assert not any(junk_verdict(f"<id-{i}@x>", 0.0) for i in range(100))
    assert all(junk_verdict(f"<id-{i}@x>", 1.0) for i in range(100))


# -- SMTP submission ---------------------------------------------------------------------------
def test_starttls_submission_with_auth_plain_arrives_intact_via_imaps(mail_lab: MailLab) -> None:
    alice, bob = _account(mail_lab, "alice"), _account(mail_lab, "bob")
    assert alice.smtp_security == "starttls" and bob.imap_security == "ssl"
    message_id = _new_id("starttls")
    raw = _message(alice.email, bob.email, message_id)

    async def send() -> None:
        client = aiosmtplib.SMTP(
            hostname=alice.smtp_host,
            port=alice.smtp_port,
            start_tls=True,
            tls_context=mail_lab.client_ssl_context(),
        )
        async with client:
            await client.ehlo()
            assert client.supports_extension("auth")
            await client.auth_plain(alice.email, alice.password)
            errors, _ = await client.sendmail(alice.email, [bob.email], raw)
            assert errors == {}

    asyncio.run(send())

    imap = imaplib.IMAP4_SSL(bob.imap_host, bob.imap_port, ssl_context=mail_lab.client_ssl_context())
    try:
        imap.login(bob.email, bob.password)
        typ, _ = imap.select("INBOX", readonly=True)
        assert typ == "OK"
    finally:
        imap.logout()
    delivered = _wait_for_id(mail_lab, bob.email, "INBOX", message_id)
    _assert_faithful(delivered, raw)
    assert b"with ESMTPSA" in delivered
    assert f"Return-Path: <{alice.email}>".encode() in delivered


def test_implicit_tls_submission_with_auth_login_readable_via_imap_starttls(mail_lab: MailLab) -> None:
    bob, alice = _account(mail_lab, "bob"), _account(mail_lab, "alice")
    assert bob.smtp_security == "ssl" and alice.imap_security == "starttls"
    message_id = _new_id("implicit")
    raw = _message(bob.email, alice.email, message_id)

    async def send() -> None:
        client = aiosmtplib.SMTP(
            hostname=bob.smtp_host, port=bob.smtp_port, use_tls=True, tls_context=mail_lab.client_ssl_context()
        )
        async with client:
            await client.ehlo()
            await client.auth_login(bob.email, bob.password)
            await client.sendmail(bob.email, [alice.email], raw)

    asyncio.run(send())
    delivered = _wait_for_id(mail_lab, alice.email, "INBOX", message_id)
    _assert_faithful(delivered, raw)

    imap = imaplib.IMAP4(alice.imap_host, alice.imap_port)
    try:
        imap.starttls(mail_lab.client_ssl_context())
        imap.login(alice.email, alice.password)
        typ, _ = imap.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = imap.search(None, "HEADER", "Message-ID", message_id)
        assert typ == "OK" and data[0]
        typ, fetched = imap.fetch(data[0].split()[0], "(BODY.PEEK[HEADER.FIELDS (X-FOLDED X-LOWERCASE-HEADER)])")
        assert typ == "OK"
        first = fetched[0]
        assert isinstance(first, tuple)
        headers = first[1]
        assert b"X-Folded: first part\r\n\tsecond part\r\n" in headers
        assert b"x-lowercase-header: kept as is\r\n" in headers
    finally:
        imap.logout()


def test_plain_submission_port_for_security_none(mail_lab: MailLab) -> None:
    alice, bob = _account(mail_lab, "alice"), _account(mail_lab, "bob")
    message_id = _new_id("plain")
    with smtplib.SMTP(alice.smtp_host, mail_lab.smtp_port("lab-mail", "none"), timeout=10) as client:
        client.login(alice.email, alice.password)
        client.sendmail(alice.email, [bob.email], _message(alice.email, bob.email, message_id))
    assert b"with ESMTPA " in _wait_for_id(mail_lab, bob.email, "INBOX", message_id)


def test_wrong_password_is_535(mail_lab: MailLab) -> None:
    alice = _account(mail_lab, "alice")

    async def attempt() -> None:
        async with aiosmtplib.SMTP(
            hostname=alice.smtp_host,
            port=alice.smtp_port,
            start_tls=True,
            tls_context=mail_lab.client_ssl_context(),
        ) as client:
            await client.login(alice.email, "not-the-password")

    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as info:
        asyncio.run(attempt())
    assert info.value.code == 535


def test_auth_before_starttls_is_refused(mail_lab: MailLab) -> None:
    alice = _account(mail_lab, "alice")

    async def attempt() -> tuple[int, bool, int]:
        async with aiosmtplib.SMTP(hostname=alice.smtp_host, port=alice.smtp_port, start_tls=False) as client:
            await client.ehlo()
            advertised = client.supports_extension("auth")
            token = base64.b64encode(f"\0{alice.email}\0{alice.password}".encode()).decode()
            auth = await client.execute_command(b"AUTH", b"PLAIN", token.encode())
            mail = await client.execute_command(b"MAIL", f"FROM:<{alice.email}>".encode())
            return auth.code, advertised, mail.code

    auth_code, advertised, mail_code = asyncio.run(attempt())
    assert not advertised
    assert auth_code == 530
    assert mail_code == 530


def test_mail_without_auth_is_refused_on_implicit_tls(mail_lab: MailLab) -> None:
    bob = _account(mail_lab, "bob")

    async def attempt() -> int:
        async with aiosmtplib.SMTP(
            hostname=bob.smtp_host, port=bob.smtp_port, use_tls=True, tls_context=mail_lab.client_ssl_context()
        ) as client:
            await client.ehlo()
            response = await client.execute_command(b"MAIL", f"FROM:<{bob.email}>".encode())
            return response.code

    assert asyncio.run(attempt()) == 530


def test_unknown_recipient_is_550_at_rcpt(mail_lab: MailLab) -> None:
    alice = _account(mail_lab, "alice")

    async def attempt() -> aiosmtplib.SMTPResponse:
        async with aiosmtplib.SMTP(
            hostname=alice.smtp_host,
            port=alice.smtp_port,
            start_tls=True,
            tls_context=mail_lab.client_ssl_context(),
            username=alice.email,
            password=alice.password,
        ) as client:
            await client.mail(alice.email)
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as info:
                await client.rcpt("nobody@lab-mail.test")
            return aiosmtplib.SMTPResponse(info.value.code, info.value.message)

    response = asyncio.run(attempt())
    assert response.code == 550
    assert response.message == "5.1.1 <nobody@lab-mail.test>: Recipient address rejected: User unknown"


# -- junk filing -------------------------------------------------------------------------------
def test_junk_provider_files_exactly_the_predicted_messages(mail_lab: MailLab) -> None:
    alice, carol = _account(mail_lab, "alice"), _account(mail_lab, "carol")
    ids = [f"<junk-{i}.{mail_lab.seed}@kindling.test>" for i in range(24)]
    predicted_junk = {i for i in ids if mail_lab.expected_folder(carol.email, i) == "Junk"}
    assert 0 < len(predicted_junk) < len(ids)
    assert predicted_junk == {i for i in ids if junk_verdict(i, 0.3, seed=mail_lab.seed)}
    run = uuid.uuid4().hex
    unique = {i: i.replace("@", f".{run}@") for i in ids}
    predicted_junk = {unique[i] for i in ids if mail_lab.expected_folder(carol.email, unique[i]) == "Junk"}

    async def send() -> None:
        async with aiosmtplib.SMTP(
            hostname=alice.smtp_host,
            port=alice.smtp_port,
            start_tls=True,
            tls_context=mail_lab.client_ssl_context(),
            username=alice.email,
            password=alice.password,
        ) as client:
            for original in ids:
                await client.sendmail(alice.email, [carol.email], _message(alice.email, carol.email, unique[original]))

    asyncio.run(send())
    import time

    deadline = time.monotonic() + 15
    while True:
        junk = set(_raw_by_id(mail_lab, carol.email, "Junk")) & set(unique.values())
        inbox = set(_raw_by_id(mail_lab, carol.email, "INBOX")) & set(unique.values())
        if len(junk) + len(inbox) == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert junk == predicted_junk
    assert inbox == set(unique.values()) - predicted_junk
    # The plain provider never files into Junk, whatever the Message-ID.
    assert all(mail_lab.expected_folder(alice.email, i) == "INBOX" for i in unique.values())


# -- IMAP --------------------------------------------------------------------------------------
def test_list_shows_special_use_and_capability_has_condstore_and_move(mail_lab: MailLab) -> None:
    with mail_lab.imap(_account(mail_lab, "dave").email) as imap:
        typ, lines = imap.list()
        assert typ == "OK"
        listing = b"\n".join(line for line in lines if isinstance(line, bytes))
        assert b'(\\HasNoChildren \\Junk) "/" Junk' in listing
        assert b'(\\HasNoChildren \\Sent) "/" Sent' in listing
        assert b"\\Drafts" in listing and b"\\Trash" in listing
        typ, caps = imap.capability()
        assert typ == "OK"
        words = set(caps[0].split())
        assert {b"CONDSTORE", b"QRESYNC", b"MOVE", b"SPECIAL-USE", b"UIDPLUS", b"IDLE"} <= words


def test_append_then_move_from_junk_to_inbox(mail_lab: MailLab) -> None:
    dave = _account(mail_lab, "dave")
    message_id = _new_id("append")
    raw = _message("someone@lab-mail.test", dave.email, message_id, subject="Appended")
    mail_lab.append(dave.email, "Junk", raw, flags="(\\Seen)")
    assert _raw_by_id(mail_lab, dave.email, "Junk")[message_id] == raw

    with mail_lab.imap(dave.email) as imap:
        imap.enable("CONDSTORE")
        typ, data = imap.select("Junk")
        assert typ == "OK"
        typ, data = imap.uid("SEARCH", "HEADER", "Message-ID", message_id)
        assert typ == "OK" and isinstance(data[0], bytes)
        uid = data[0].split()[0].decode()
        typ, data = imap.uid("MOVE", uid, "INBOX")
        assert typ == "OK"
    assert message_id in _raw_by_id(mail_lab, dave.email, "INBOX")
    assert message_id not in _raw_by_id(mail_lab, dave.email, "Junk")


def test_added_account_can_log_in_and_receive_at_once(mail_lab: MailLab) -> None:
    address = f"new-{uuid.uuid4().hex[:8]}@lab-junk.test"
    account = mail_lab.add_account(address, "fresh-password", "lab-junk", imap_security="ssl")
    assert account.provider == "lab-junk" and account.imap_port == mail_lab.imaps_port
    assert mail_lab.fetch_messages(address, "INBOX") == []
    alice = _account(mail_lab, "alice")
    message_id = next(m for m in (_new_id(f"n{i}") for i in range(100)) if not junk_verdict(m, 0.3, 1234))
    with smtplib.SMTP(alice.smtp_host, alice.smtp_port, timeout=10) as client:
        client.starttls(context=mail_lab.client_ssl_context())
        client.login(alice.email, alice.password)
        client.sendmail(alice.email, [address], _message(alice.email, address, message_id))
    assert message_id in _raw_by_id(mail_lab, address, "INBOX") or _wait_for_id(mail_lab, address, "INBOX", message_id)


# -- MX listener -------------------------------------------------------------------------------
def test_mx_accepts_unauthenticated_dsn_for_lab_recipients_only(mail_lab: MailLab) -> None:
    carol = _account(mail_lab, "carol")
    message_id = _new_id("dsn")
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.lab.test>\r\n"
        f"To: <{carol.email}>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "MIME-Version: 1.0\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nbounced\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.lab.test\r\n\r\n"
        "Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b1--\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", mail_lab.mx_port, timeout=10) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        refused = client.sendmail("", [carol.email], dsn)
        assert refused == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("", ["someone@example.com"], dsn)
    folder = mail_lab.expected_folder(carol.email, message_id)
    delivered = _wait_for_id(mail_lab, carol.email, folder, message_id)
    assert delivered.startswith(b"Return-Path: <>\r\n")
    assert delivered.endswith(dsn)


# -- lifecycle ---------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_own_lab_starts_fast_and_stop_leaves_nothing_behind(tmp_path: Path) -> None:
    lab = MailLab(tmp_path / "lab", seed=5, junk_ratio=0.5)
    with lab:
        assert lab.started_in is not None and lab.started_in < 15
        # Short-lived children (the readiness probe's imap-login) may exit between listing and checking: the
        # processes to follow are the ones alive now (the master and its long-lived children, at least two).
        pids = [p for p in lab.pids() if _alive(p)]
        assert len(pids) >= 2
        ports = [a.smtp_port for a in lab.accounts] + [lab.imap_port, lab.imaps_port, lab.mx_port]
        # An open client connection must not keep a Dovecot child alive after stop().
        lingering = imaplib.IMAP4("127.0.0.1", lab.imap_port)
        account = lab.accounts[0]
        lingering.starttls(ssl.create_default_context(cafile=str(lab.ca_path)))
        lingering.login(account.email, account.password)
        smtp_client = smtplib.SMTP("127.0.0.1", lab.mx_port, timeout=10)
    assert lab.pids() == []
    assert not any(_alive(p) for p in pids)
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    lingering.shutdown()
    smtp_client.close()
    assert os.path.isdir(tmp_path / "lab" / "dovecot" / "logs")


# -- pymap fallback ----------------------------------------------------------------------------
def test_pymap_fallback_when_dovecot_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import devstack.maillab.lab as lab_module

    monkeypatch.setattr(lab_module, "dovecot_binary", lambda: None)
    lab = MailLab(tmp_path / "pymap-lab", seed=9)
    assert lab.imap_backend == "pymap"
    with lab:
        pids = lab.pids()
        assert pids and all(_alive(p) for p in pids)
        alice, carol = _account(lab, "alice"), _account(lab, "carol")
        ids = [f"<fallback-{i}@kindling.test>" for i in range(6)]
        with smtplib.SMTP(alice.smtp_host, alice.smtp_port, timeout=10) as client:
            client.starttls(context=lab.client_ssl_context())
            client.login(alice.email, alice.password)
            for message_id in ids:
                client.sendmail(alice.email, [carol.email], _message(alice.email, carol.email, message_id))
        for message_id in ids:
            folder = lab.expected_folder(carol.email, message_id)
            delivered = _wait_for_id(lab, carol.email, folder, message_id)
            # pymap stores and serves bare LF line endings; compare modulo that.
            original = _message(alice.email, carol.email, message_id).replace(b"\r\n", b"\n")
            assert delivered.replace(b"\r\n", b"\n").endswith(original)
            assert delivered.startswith(f"Return-Path: <{alice.email}>".encode())
        # carol's IMAP security is 'ssl': implicit TLS works through the lab's TLS front.
        assert carol.imap_security == "ssl" and carol.imap_port == lab.imaps_port
        raw = _message("x@lab-mail.test", carol.email, "<fallback-append@kindling.test>")
        lab.append(carol.email, "Junk", raw)
        with lab.imap(carol.email) as imap:
            typ, caps = imap.capability()
            assert typ == "OK" and b"MOVE" in caps[0].split()
            typ, lines = imap.list()
            names = {line.decode().rsplit(' "/" ', 1)[-1] for line in lines if isinstance(line, bytes)}
            assert {"INBOX", "Junk", "Sent", "Drafts", "Trash"} <= names
            imap.select("Junk")
            typ, data = imap.uid("SEARCH", "HEADER", "Message-ID", "<fallback-append@kindling.test>")
            assert typ == "OK" and isinstance(data[0], bytes) and data[0]
            typ, _ = imap.uid("MOVE", data[0].split()[0].decode(), "INBOX")
            assert typ == "OK"
        assert "<fallback-append@kindling.test>" in _raw_by_id(lab, carol.email, "INBOX")
    assert lab.pids() == []
    assert not any(_alive(p) for p in pids)
