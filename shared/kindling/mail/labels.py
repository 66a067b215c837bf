# ruff: noqa: E501  (the rule table keeps one rule per line, which beats wrapping for review)
"""Reply labels: one rule table (data), a priority order, and the positive/sentiment mapping.

Rules match the *folded* reply text (`parsing.fold`: lower case, accents removed, so ``Büro`` is matched as
``buro`` and ``außer`` as ``ausser``) or the folded subject. When rules of several labels match, the label
earliest in `PRIORITY` wins: a removal request beats everything (compliance errs towards honouring it), an
auto-reply beats the colleague it names ("contact Jane while I am away" is not a referral), a referral beats
the wrong-person phrasing it usually contains, refusals beat the positive words they negate ("not
interested"), and a bare question mark is the weakest signal. No match is `neutral`.

`is_positive` is true for interested, meeting_requested and referral. Referral counts as positive because
it is engagement that opens a door (a named contact to follow up with) and calls for the same prompt action
as interest; wrong_person without a name does not. The help center's reply statuses (replied positive /
neutral / negative, plus the 'Out of Office' sentiment) come from `SENTIMENT`.

The OOO and unsubscribe rows are also what `classify` uses to detect out-of-office replies and unsubscribe
requests by phrasing, so those phrase lists live here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from kindling.mail.parsing import fold

Label = Literal[
    "interested",
    "not_interested",
    "meeting_requested",
    "out_of_office",
    "unsubscribe",
    "wrong_person",
    "referral",
    "question",
    "neutral",
]
Lang = Literal["en", "nl", "de", "fr", "es", "any"]
Field = Literal["text", "subject"]
Sentiment = Literal["positive", "neutral", "negative", "out_of_office"]

PRIORITY: tuple[Label, ...] = (
    "unsubscribe",
    "out_of_office",
    "referral",
    "wrong_person",
    "not_interested",
    "meeting_requested",
    "interested",
    "question",
    "neutral",
)
POSITIVE_LABELS: frozenset[Label] = frozenset({"interested", "meeting_requested", "referral"})
SENTIMENT: dict[Label, Sentiment] = {
    "interested": "positive",
    "meeting_requested": "positive",
    "referral": "positive",
    "question": "neutral",
    "neutral": "neutral",
    "not_interested": "negative",
    "unsubscribe": "negative",
    "wrong_person": "negative",
    "out_of_office": "out_of_office",
}


@dataclass(frozen=True)
class Rule:
    """`pattern` is a regex over folded text (``\\b`` word boundaries added around it); `example` is a real
    sentence this rule must match and that must come out as `label` (the per-rule test)."""

    label: Label
    lang: Lang
    field: Field
    pattern: str
    example: str


def _r(label: Label, lang: Lang, pattern: str, example: str, field: Field = "text") -> Rule:
    return Rule(label, lang, field, pattern, example)


# fmt: off
RULES: tuple[Rule, ...] = (
    # -- unsubscribe (replies asking to stop; the 5 languages of the help center) -------------------------
    _r("unsubscribe", "en", r"unsubscribe", "Please unsubscribe me from this list."),
    _r("unsubscribe", "en", r"remove (me|us|my (e-?mail|address|details)|this address)( from)?", "Remove me from your mailing list."),
    _r("unsubscribe", "en", r"take (me|us) off", "Take me off your list, thanks."),
    _r("unsubscribe", "en", r"opt(-| )?(me )?out", "I want to opt out of these emails."),
    _r("unsubscribe", "en", r"(?<!don't )(?<!do not )(?<!never )stop (emailing|e-mailing|mailing|contacting|sending|spamming)", "Stop emailing me."),
    _r("unsubscribe", "en", r"(do not|don't|never) (contact|email|e-mail|write to) (me|us)( again)?", "Do not contact me again."),
    _r("unsubscribe", "en", r"^stop[.!]?$", "STOP"),
    _r("unsubscribe", "any", r"^(unsubscribe|remove( me)?|stop|afmelden|uitschrijven|abmelden|austragen|desabonner|desinscription|baja|darse de baja)$", "Baja", "subject"),
    _r("unsubscribe", "nl", r"(afmelden|uitschrijven|schrijf (mij|me|ons) uit|meld (mij|me|ons) af)", "Graag afmelden voor deze mails."),
    _r("unsubscribe", "nl", r"verwijder (mij|me|ons|mijn (e-?mail ?adres|gegevens))", "Verwijder mij uit uw bestand."),
    _r("unsubscribe", "nl", r"(geen|niet langer) (e-?mails?|mails|berichten) meer", "Ik wil geen e-mails meer ontvangen."),
    _r("unsubscribe", "de", r"(abmelden|abbestellen|austragen|tragen sie mich aus)", "Bitte tragen Sie mich aus Ihrem Verteiler aus."),
    _r("unsubscribe", "de", r"(entfernen|loschen) sie (mich|meine (adresse|daten|e-?mail))", "Bitte entfernen Sie mich aus Ihrer Liste."),
    _r("unsubscribe", "de", r"keine (weiteren )?(e-?mails?|nachrichten|mails) mehr", "Ich möchte keine E-Mails mehr erhalten."),
    _r("unsubscribe", "fr", r"(desabonner|desinscri(re|vez|ption)|desabonnement)", "Merci de me désabonner de votre liste."),
    _r("unsubscribe", "fr", r"(retirez|supprimez|enlevez)[- ]moi", "Retirez-moi de votre liste svp."),
    _r("unsubscribe", "fr", r"(ne plus recevoir|ne m'envoyez plus|arretez de m'envoyer)", "Je souhaite ne plus recevoir vos emails."),
    _r("unsubscribe", "es", r"((dar|darme|darnos|dame|denme|deme|doy|darse) de baja|desuscribir(me)?|cancelar (la |mi )?suscripcion)", "Por favor, denme de baja de esta lista."),
    _r("unsubscribe", "es", r"(eliminarme|quitenme|borrenme|eliminen mi (correo|direccion))", "Quítenme de su lista de correo."),
    _r("unsubscribe", "es", r"no me (envien|escriban|contacten|manden) mas", "No me envíen más correos."),
    # -- out of office (subject prefixes and body phrasing, 5 languages) ------------------------------------
    _r("out_of_office", "en", r"^(automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|out of (the )?office|away from (the )?office|on vacation|on leave)", "Automatic reply: Quick question", "subject"),
    _r("out_of_office", "nl", r"^(automatisch antwoord|afwezig(heidsmelding|heidsbericht)?|niet aanwezig|met vakantie)", "Automatisch antwoord: Korte vraag", "subject"),
    _r("out_of_office", "de", r"^(automatische antwort|abwesenheitsnotiz|abwesend|automatische abwesenheitsnotiz|nicht im buro)", "Abwesenheitsnotiz: Kurze Frage", "subject"),
    _r("out_of_office", "fr", r"^(reponse automatique|absent(e)?|absence|message d'absence)", "Réponse automatique : Petite question", "subject"),
    _r("out_of_office", "es", r"^(respuesta automatica|fuera de la oficina|ausente|autorespuesta|de vacaciones)", "Respuesta automática: Pregunta rápida", "subject"),
    _r("out_of_office", "en", r"(am|i'm|i will be|i'll be|will be) (currently )?(out of (the )?office|away from (the )?office|on (annual |parental |maternity |paternity |sick )?(leave|vacation|holiday))", "I am currently out of the office until June 15."),
    _r("out_of_office", "en", r"(limited|no|intermittent) access to (my )?e-?mail", "I'm travelling with limited access to email."),
    _r("out_of_office", "en", r"(will|i'll) (respond|reply|get back to you|answer) .{0,40}(upon|on|after|when i) (my )?return", "I will respond to your message upon my return."),
    _r("out_of_office", "en", r"(i am|i'm) (away|out) (until|till|through)", "I'm away until Monday 15 June."),
    _r("out_of_office", "nl", r"(ben ik|ik ben) .{0,40}(afwezig|niet (aanwezig|op kantoor)|met vakantie|op vakantie|met verlof|buiten kantoor)", "Ik ben tot en met 14 juni afwezig."),
    _r("out_of_office", "nl", r"(vanaf|na) .{0,30}(ben ik )?weer (aanwezig|bereikbaar|op kantoor|terug)", "Vanaf maandag 15 juni ben ik weer aanwezig."),
    _r("out_of_office", "nl", r"(beperkt|geen) toegang tot (mijn )?e-?mail", "Ik heb beperkt toegang tot mijn e-mail."),
    _r("out_of_office", "de", r"(ich bin|bin ich) .{0,40}(nicht im buro|abwesend|im urlaub|ausser haus|nicht erreichbar|in elternzeit)", "Ich bin bis einschließlich 14. Juni nicht im Büro."),
    _r("out_of_office", "de", r"ab (dem )?.{0,30}(bin ich )?wieder (im buro|erreichbar|da|zuruck)", "Ab dem 15. Juni bin ich wieder erreichbar."),
    _r("out_of_office", "de", r"(keinen|eingeschrankten|nur eingeschrankt) zugriff auf (meine )?e-?mails?", "Ich habe nur eingeschränkt Zugriff auf meine E-Mails."),
    _r("out_of_office", "fr", r"je (suis|serai) .{0,40}(absente?|en conge|en vacances|hors du bureau|en deplacement)", "Je suis actuellement absente du bureau."),
    _r("out_of_office", "fr", r"je serai de retour", "Je serai de retour le 15 juin."),
    _r("out_of_office", "fr", r"acces (limite|restreint) (a|aux) (mes )?(e-?mails?|courriels?|messagerie)", "J'ai un accès limité à mes emails."),
    _r("out_of_office", "es", r"(estoy|me encuentro|estare) .{0,40}(fuera de la oficina|de vacaciones|ausente|de viaje|de baja)", "Me encuentro fuera de la oficina hasta el 15 de junio."),
    _r("out_of_office", "es", r"estare de (vuelta|regreso)|regresare el", "Estaré de vuelta el lunes 15 de junio."),
    _r("out_of_office", "es", r"acceso limitado (a|al) (mi )?correo", "Tengo acceso limitado al correo."),
    # -- referral (points to someone else) ------------------------------------------------------------------
    _r("referral", "en", r"(contact|reach out to|talk to|speak (to|with)|get in touch with|email|ping) (my|our) (colleague|manager|boss|team|head of|cto|ceo|cfo|cmo|coo|director|partner|cofounder|co-founder|vp)", "Please reach out to my colleague Sam Lee, she runs procurement."),
    _r("referral", "en", r"(the right|a better|the best|the correct) (person|contact|people)( for this| to (talk|speak) to)? (is|are|would be)", "The right person for this is Dana (dana@acme.com)."),
    _r("referral", "en", r"(i've|i have|i) (cc'?d|copied|looped in) ", "I've cc'd our head of sales who can help."),
    _r("referral", "en", r"(cc'?ing|looping in) ", "Looping in Priya from our data team."),
    _r("referral", "en", r"forward(ed|ing)? (this|your (e-?mail|message|note)) (on )?to", "I forwarded your email to our marketing lead."),
    _r("referral", "nl", r"(neem|kunt u) .{0,20}contact op met (mijn|onze|de)", "Neem contact op met mijn collega Jan."),
    _r("referral", "nl", r"(de juiste|de aangewezen) persoon (hiervoor )?is", "De juiste persoon hiervoor is Eva de Vries."),
    _r("referral", "nl", r"(doorgestuurd|doorgezet) naar", "Ik heb uw mail doorgestuurd naar onze inkoper."),
    _r("referral", "de", r"wenden sie sich (bitte )?an", "Bitte wenden Sie sich an meine Kollegin Frau Weber."),
    _r("referral", "de", r"(richtige|zustandige) (ansprechpartner(in)?|person) (dafur )?ist", "Die zuständige Ansprechpartnerin ist Frau Weber."),
    _r("referral", "de", r"(weitergeleitet|weitergegeben) an|an (unseren|unsere|meinen|meine|den|die) .{0,40}(weitergeleitet|weitergegeben)", "Ich habe Ihre Mail an unseren Einkauf weitergeleitet."),
    _r("referral", "fr", r"(contactez|adressez-vous a|voyez avec|ecrivez a) (plutot )?(mon|ma|notre|nos)", "Contactez plutôt ma collègue Claire."),
    _r("referral", "fr", r"la (bonne|meilleure) personne (est|serait)", "La bonne personne est Claire Martin."),
    _r("referral", "fr", r"(transmis|transfere) (votre (message|mail|email) )?a", "J'ai transmis votre message à notre directeur."),
    _r("referral", "es", r"(contacte|contacta|hable|habla|escriba) (con|a) (mi|nuestro|nuestra)", "Contacte con mi compañero Luis."),
    _r("referral", "es", r"la persona (adecuada|indicada|correcta) es", "La persona adecuada es Marta Ruiz."),
    _r("referral", "es", r"(reenviado|reenvie|he reenviado) (tu|su) (correo|mensaje|email) a", "He reenviado su correo a nuestro director."),
    # -- wrong person ---------------------------------------------------------------------------------------
    _r("wrong_person", "en", r"(not|no longer) the (right|correct|best|appropriate) (person|contact)", "I'm not the right person for this."),
    _r("wrong_person", "en", r"wrong (person|contact|email|address|guy)", "You have the wrong person."),
    _r("wrong_person", "en", r"(no longer|doesn't|does not|don't|do not) (work|works|working|employed) (here|at|for|with)", "John no longer works here."),
    _r("wrong_person", "en", r"(has|have) left the (company|organi[sz]ation|business)", "Sarah has left the company."),
    _r("wrong_person", "en", r"not (my|in my) (area|department|responsibility|remit)|i don't (handle|deal with|manage) (this|that)", "That's not my area, sorry."),
    _r("wrong_person", "nl", r"niet de (juiste|goede) (persoon|contactpersoon)", "Ik ben niet de juiste persoon."),
    _r("wrong_person", "nl", r"werkt (hier )?niet meer|is niet meer (werkzaam|in dienst|bij ons)", "Hij werkt hier niet meer."),
    _r("wrong_person", "de", r"nicht (der|die) (richtige|zustandige) (ansprechpartner(in)?|person)", "Ich bin nicht der richtige Ansprechpartner."),
    _r("wrong_person", "de", r"nicht mehr (im unternehmen|bei uns|fur uns tatig|tatig)", "Herr Klein ist nicht mehr im Unternehmen."),
    _r("wrong_person", "fr", r"pas (la bonne personne|le bon interlocuteur|le bon contact)", "Je ne suis pas la bonne personne."),
    _r("wrong_person", "fr", r"ne (travaille|fait) plus (partie|chez|pour|ici)", "Elle ne travaille plus chez nous."),
    _r("wrong_person", "es", r"no soy la persona (adecuada|indicada|correcta)", "No soy la persona adecuada."),
    _r("wrong_person", "es", r"ya no (trabaja|esta) (aqui|en la empresa|con nosotros)", "Ya no trabaja aquí."),
    # -- not interested -------------------------------------------------------------------------------------
    _r("not_interested", "en", r"not (really |currently |at all )?interested", "Thanks, but we're not interested."),
    _r("not_interested", "en", r"no,? thank(s| you)", "No thank you."),
    _r("not_interested", "en", r"not (a (good )?fit|for us|a priority|looking|something we need)", "This is not a fit for us right now."),
    _r("not_interested", "en", r"we (already )?(have|use|work with) (a|an|our own) (solution|provider|vendor|tool|agency|partner)", "We already have a provider for this."),
    _r("not_interested", "en", r"(i'll|we'll|i will|we will) pass|no need|please don't follow up", "We'll pass on this one."),
    _r("not_interested", "nl", r"(geen|niet) (interesse|geinteresseerd)", "Wij hebben geen interesse."),
    _r("not_interested", "nl", r"nee,? (bedankt|dank je|dank u)", "Nee bedankt."),
    _r("not_interested", "de", r"(kein interesse|nicht interessiert)", "Wir haben kein Interesse."),
    _r("not_interested", "de", r"nein,? danke", "Nein danke."),
    _r("not_interested", "fr", r"(pas interesse(e|s)?|ne (nous |m'|m )interesse pas|pas d'interet)", "Ça ne nous intéresse pas."),
    _r("not_interested", "fr", r"non,? merci", "Non merci."),
    _r("not_interested", "es", r"no (me|nos) interesa|no (estoy|estamos) interesad[oa]s?", "No nos interesa, gracias."),
    _r("not_interested", "es", r"no,? gracias", "No, gracias."),
    # -- meeting requested ----------------------------------------------------------------------------------
    _r("meeting_requested", "en", r"(schedule|set up|book|arrange|hop on|jump on|have|find time for) a (quick |short |brief |15[- ]min(ute)? |30[- ]min(ute)? )?(call|meeting|chat|demo|zoom|meet)", "Happy to set up a quick call next week."),
    _r("meeting_requested", "en", r"(are|is) you (free|available)|what'?s your availability|what times? works? for you", "Are you free Thursday at 2pm?"),
    _r("meeting_requested", "en", r"(let's|can we|could we|shall we) (talk|chat|meet|speak|connect|jump on)", "Let's talk on Tuesday."),
    _r("meeting_requested", "en", r"(calendly\.com|cal\.com/|hubspot\.com/meetings|chilipiper|savvycal|my calendar|calendar (link|invite))", "Grab a slot here: calendly.com/dana-acme/30min"),
    _r("meeting_requested", "nl", r"(afspraak|belafspraak|gesprek|meeting|call) (in )?(te )?(plannen|maken|inplannen)|zullen we (even )?(bellen|afspreken)", "Zullen we even bellen volgende week?"),
    _r("meeting_requested", "de", r"(termin|telefonat|gesprek|call|meeting) (zu )?(vereinbaren|ausmachen|planen)|lassen sie uns .{0,20}(telefonieren|sprechen)", "Gerne können wir einen Termin vereinbaren."),
    _r("meeting_requested", "fr", r"(planifier|organiser|fixer|caler|prendre) (un|une) (appel|rendez-vous|rdv|reunion|call|visio|creneau)", "On peut caler un appel jeudi ?"),
    _r("meeting_requested", "es", r"(agendar|programar|concertar|organizar|tener) (una )?(llamada|reunion|cita|videollamada)", "Podemos agendar una llamada el jueves."),
    # -- interested -----------------------------------------------------------------------------------------
    _r("interested", "en", r"(i'm|i am|we're|we are|i'd be|we'd be|would be) (very |really |definitely |quite |potentially )?interested", "We're definitely interested."),
    _r("interested", "en", r"(sounds|looks|seems) (good|great|interesting|promising)", "Sounds interesting!"),
    _r("interested", "en", r"tell me more|(send|share) (me |us )?(over )?(more )?(info|information|details|the deck|a deck|pricing|a proposal)", "Please send over more details."),
    _r("interested", "en", r"(i'd|we'd|i would|we would) (love|like|be happy|be glad) to (learn|hear|know|see|try|explore)", "We'd love to learn more."),
    _r("interested", "nl", r"(klinkt|lijkt (me|ons)) (interessant|goed)|geinteresseerd|stuur (me|ons) (meer )?(informatie|info)", "Klinkt interessant, stuur me meer informatie."),
    _r("interested", "de", r"(klingt|hort sich) .{0,10}(interessant|gut)|interessiert|(schicken|senden) sie (mir|uns) (gerne )?(mehr )?(infos?|informationen|unterlagen)", "Klingt interessant!"),
    _r("interested", "fr", r"(ca|cela) (m|nous)'interesse|interesse(e|s)?|(envoyez|transmettez)-(moi|nous) (plus d'|des )?(informations|infos|details)", "Ça m'intéresse, envoyez-moi des informations."),
    _r("interested", "es", r"(me|nos) interesa|interesad[oa]s?|suena (bien|interesante)|(envieme|envienos|mandeme) (mas )?informacion", "Me interesa, envíeme más información."),
    # -- question (weakest: any question) -------------------------------------------------------------------
    _r("question", "any", r"\?", "How does pricing work for a team of 12?"),
    _r("question", "en", r"(how much|what does it cost|how does (it|this) work|can you explain|what is the price)", "Can you explain how it integrates with Salesforce."),
)
# fmt: on


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Word boundaries only where the pattern starts/ends with a word character (not around "?" or "^").
    head = r"\b" if re.match(r"[\w(]", pattern) else ""
    tail = r"\b" if re.search(r"[\w)]$", pattern) and not pattern.endswith("$") else ""
    return re.compile(head + "(?:" + pattern + ")" + tail)


_REPLY_PREFIX = re.compile(r"^((re|aw|antw|sv|wg|fw|fwd|tr|rv|r)\s*(\[\d+\])?\s*:\s*)+")


@dataclass(frozen=True)
class LabelResult:
    label: Label
    rule: Rule | None  # the rule that decided it (None for neutral)
    matched: tuple[Rule, ...]  # every rule that matched, in table order

    @property
    def is_positive(self) -> bool:
        return is_positive(self.label)


def matching_rules(text: str, subject: str = "", *, labels: frozenset[Label] | None = None) -> tuple[Rule, ...]:
    # One line: phrases wrapped over two lines still match, and ^...$ means "the whole reply".
    folded_text = fold(text)
    folded_subject = _REPLY_PREFIX.sub("", fold(subject))
    out: list[Rule] = []
    for rule in RULES:
        if labels is not None and rule.label not in labels:
            continue
        target = folded_subject if rule.field == "subject" else folded_text
        if target and _compiled(rule.pattern).search(target):
            out.append(rule)
    return tuple(out)


def label_reply(text: str, subject: str = "") -> LabelResult:
    """The label of a reply's own text (quoted history and signature already removed) and its subject."""
    matched = matching_rules(text, subject)
    for label in PRIORITY:
        for rule in matched:
            if rule.label == label:
                return LabelResult(label, rule, matched)
    return LabelResult("neutral", None, matched)


def is_positive(label: Label | None) -> bool:
    return label in POSITIVE_LABELS


def sentiment(label: Label) -> Sentiment:
    return SENTIMENT[label]
