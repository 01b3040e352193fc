"""Conversations: follow-ups, clarify, handoff, and transcripts that keep no personal data by default.

A :class:`Conversation` wraps the one-shot :class:`~contact_center.assistant.Assistant` with state kept
in the :class:`~contact_center.storage.Store`:

- **Follow-ups** are rewritten into standalone questions without an LLM: when a message is short or
  refers back ("et ça coûte combien ?", "en hoeveel kost dat?", "and how much is it?") and names no
  procedure of its own, the active procedure (the one last answered) and the conversation's language
  are carried forward, and that procedure's passages answer it.
- **Clarify**: a short, vague message whose two best procedures score about the same gets the question
  "which one?" with the procedures listed in ``Answer.options``; the reply may be the option's number.
- **Handoff**: an explicit request for a person (FR, NL, EN, DE, ES, IT...), a complaint, or a second
  abstain in a row hands the conversation to an agent: a :class:`~contact_center.storage.HandoffPacket`
  (summary, language, procedures discussed, sources used, redacted transcript) is stored and the bot
  stays silent until :meth:`Conversation.resume_bot`.
- **Privacy**: every citizen message is redacted (:mod:`contact_center.privacy`) before retrieval, the
  LLM, the logs or a packet see it; the stored transcript keeps the original only with
  ``CC_STORE_PII=true``.

Each citizen message is committed to the store before any work is done on it, so a failure later in the
turn never loses it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contact_center.assistant import Assistant, Retrieval, clean_question
from contact_center.models import Answer, Citation, Decision, Hit
from contact_center.privacy import redact
from contact_center.scope import ScopeVerdict
from contact_center.storage import (
    ConversationRecord,
    HandoffPacket,
    HandoffReason,
    MessageRecord,
    Store,
    StoredAnswer,
)
from knowledge_base.generation import Generated
from knowledge_base.intent import asked_fields
from knowledge_base.phrases import phrase
from knowledge_base.text import fold

if TYPE_CHECKING:
    from contact_center.settings import Settings

__all__ = [
    "CLARIFY_MARGIN",
    "CLARIFY_MAX_WORDS",
    "Conversation",
    "HandoffPacket",
    "is_complaint",
    "wants_person",
]

CLARIFY_MARGIN = 0.01
"""Clarify when the two best procedures' dense similarities differ by less than this (calibrated on the
sample golden set: every in-scope golden question with so small a margin is longer than
:data:`CLARIFY_MAX_WORDS` words; docs/conversations.md)."""
CLARIFY_MAX_WORDS = 4
"""Only messages of at most this many words are vague enough to ask which procedure is meant."""
_FOLLOW_UP_MAX_WORDS = 12
_CARRY_LANGUAGE_MAX_WORDS = 2

# Requests for a human, in the City's languages; matched on the accent-folded message.
_PERSON_RE = re.compile(
    r"\b(parler|discuter|avoir|joindre|contacter)\b.{0,20}\b(quelqu'un|quelqu un|une? (vrai(e)? )?"
    r"(personne|humain|agent|conseill\w*|operat\w*|employe\w*))"
    r"|\b(un|une) (vrai(e)?|veritable) (personne|humain)\b|\betre rappele|\brappelez[- ]moi\b"
    r"|\bmedewerker|\bmet (iemand|een mens|een persoon)\b|\b(echte|echt) (mens|persoon)\b"
    r"|\bbel me (terug|op)\b|\biemand spreken\b"
    r"|\b(speak|talk|chat)\b.{0,15}\b(someone|somebody|a human|a person|an agent|an operator|a representative|"
    r"a real person|staff)\b|\bhuman (agent|being)\b|\breal person\b|\bcall me back\b"
    r"|\boperator\b|\brepresentative\b|^\s*(agent|human|humain|mens|operator)\s*[.!?]*\s*$"
    r"|\b(an|un|une|een|a) agent\b"
    r"|\bmitarbeiter|\bmit einem menschen\b|\b(hablar|parlare) con\b|\bun operatore\b|\bun agente\b",
)
# Complaints about the City's service (not "porter plainte" at the police, which procedures cover).
_COMPLAINT_RE = re.compile(
    r"\breclamation\b|\bme plaindre\b|\bje me plains\b|\b(faire|introduire|deposer) une reclamation\b"
    r"|\bplainte (contre|sur|au sujet)\b|\binadmissible\b|\bscandal\w*|\bhonteu\w*|\bmecontent\w*"
    r"|\bpas (du tout )?content\b|\bc'est une honte\b"
    r"|\bklacht\w*|\bklagen\b|\bontevreden\b|\bschandalig\b|\bbelachelijk\b"
    r"|\bcomplain\w*|\bunacceptable\b|\boutrageous\b|\bdisgrace\w*|\bfurious\b|\bnot happy\b"
    r"|\bbeschwerde\b|\bqueja\b|\breclamo\b",
)
# Greetings, thanks and acknowledgements: no question to answer, and no reason to count an abstain.
_SMALLTALK_RE = re.compile(
    r"^\s*((bonjour|bonsoir|salut|hello|hi|hey|hallo|goedemorgen|goedendag|dag|merci( beaucoup| bien)?|"
    r"thanks?( you| a lot)?|thank you( very much)?|dank (u|je)( wel)?|bedankt|ok(ay)?|d'accord|oke|prima|"
    r"super|parfait|top|great|perfect|au revoir|tot ziens|bye|goodbye)[\s,.!?]*)+$",
)
# Words that point back to the conversation's procedure.
_ANAPHORA_RE = re.compile(
    r"^\s*(et|en|and|und|y|e)\b|\b(ca|cela|ceci|celle-ci|celui-ci|dat|dit|daarvoor|hiervoor|ervoor|"
    r"that|this|it|them|those|das|dafur|eso|esto)\b|\bc'est\b",
)
# Words too generic to say which procedure a message is about.
_GENERIC = frozenset(
    "pour avec dans faut dois faire avoir quoi combien comment quand cette votre notre mon une des les "
    "carte kaart card declaration aangifte permis vergunning permit demande aanvraag request ville stad "
    "city bruxelles brussel brussels belge belgisch belgian voor moet welke what which does need much "
    "long where waar documents document prix cost kost combien hoeveel besoin nodig temps faire aller "
    "bring need apply should apporter advance voorhand avance qu'est-ce longtemps".split()
)

_SUMMARY = {
    "fr": ("Motif : {reason}.", "Démarches abordées : {procedures}.", "Dernière question : « {question} »."),
    "nl": ("Reden: {reason}.", "Besproken procedures: {procedures}.", "Laatste vraag: ‘{question}’."),
    "en": ("Reason: {reason}.", "Procedures discussed: {procedures}.", "Last question: “{question}”."),
}
_REASONS = {
    "fr": {
        "asked_for_person": "le citoyen demande à parler à un agent",
        "complaint": "plainte ou mécontentement",
        "repeated_abstain": "deux questions de suite sans réponse dans la base de connaissances",
    },
    "nl": {
        "asked_for_person": "de burger vraagt een medewerker",
        "complaint": "klacht of ontevredenheid",
        "repeated_abstain": "twee vragen op rij zonder antwoord in de kennisbank",
    },
    "en": {
        "asked_for_person": "the citizen asked for a person",
        "complaint": "complaint or dissatisfaction",
        "repeated_abstain": "two questions in a row the knowledge base does not answer",
    },
}
_NONE = {"fr": "aucune", "nl": "geen", "en": "none"}


def wants_person(message: str) -> bool:
    """True when a message asks to speak to a person (FR, NL, EN and a few more languages).

    >>> wants_person("je veux parler à quelqu'un"), wants_person("Mag ik een medewerker spreken?")
    (True, True)
    """
    return bool(_PERSON_RE.search(fold(message)))


def is_complaint(message: str) -> bool:
    """True when a message complains about the service (FR, NL, EN).

    >>> is_complaint("C'est inadmissible, trois semaines sans réponse !")
    True
    """
    return bool(_COMPLAINT_RE.search(fold(message)))


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'-]+", fold(text))


def _names_procedure(message: str, hit: Hit) -> bool:
    """Whether the message names the procedure of ``hit`` itself (a distinctive word of its title)."""
    title = {w for w in _words(hit.title) if len(w) >= 4 and w not in _GENERIC}
    return any(
        w in title or (len(w) >= 5 and any(t.startswith(w[:5]) for t in title))
        for w in _words(message)
        if len(w) >= 4 and w not in _GENERIC
    )


def _topical_words(message: str) -> list[str]:
    """Words that give a message a subject of its own: long, not generic, not a cue for cost, delay..."""
    return [
        w
        for w in re.findall(r"\w+", fold(message))
        if len(w) >= 6 and w not in _GENERIC and not asked_fields(w) and not _ANAPHORA_RE.search(w)
    ]


@dataclass(slots=True)
class _Turn:
    """A message on its way through a turn: what was stored, and what will answer it."""

    question: str
    standalone: str
    language: str
    retrieval: Retrieval
    passages: list[Hit]
    procedure: str | None


class Conversation:
    """One citizen's conversation on one channel, persisted in the store.

    Get one from :meth:`contact_center.ContactCenter.conversation`. Example::

        conv = cc.conversation(channel="webchat", citizen_ref="pseudonymous-id")
        conv.ask("Je veux me marier à Bruxelles, je dois faire quoi ?").decision   # 'answer'
        conv.ask("et ça coûte combien ?").citations[0].doc_id                    # 'marriage-declaration-fr'
        conv.ask("je veux parler à quelqu'un").decision                            # 'handoff'
        conv.resume_bot()
    """

    def __init__(
        self, assistant: Assistant, store: Store, record: ConversationRecord, settings: Settings
    ) -> None:
        self._assistant = assistant
        self._store = store
        self._record = record
        self._settings = settings
        self._pending_options: list[Citation] = []
        self._pending_question = ""
        last = store.answers(record.id)[-1:] if record.updated_at != record.created_at else []
        if last and last[0].decision == "clarify":
            self._pending_options = list(last[0].options)
            self._pending_question = last[0].standalone_question

    # -- state -----------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The conversation id (give it to ``cc.conversation(conversation_id=...)`` to continue)."""
        return self._record.id

    @property
    def record(self) -> ConversationRecord:
        """The conversation's stored header and state."""
        return self._record

    @property
    def language(self) -> str | None:
        """The language the conversation is carried on."""
        return self._record.language

    @property
    def paused(self) -> bool:
        """True after a handoff, until :meth:`resume_bot`: the bot does not answer."""
        return self._record.status == "paused"

    def transcript(self) -> list[MessageRecord]:
        """The stored messages, oldest first (redacted unless ``CC_STORE_PII=true``)."""
        return self._store.messages(self.id)

    def answers(self) -> list[StoredAnswer]:
        """The stored answers, oldest first, with decisions, citations and the standalone questions."""
        return self._store.answers(self.id)

    @property
    def handoff_packet(self) -> HandoffPacket | None:
        """The open handoff's packet for the agent, or None when the bot is in charge."""
        packets = self._store.handoffs(self.id, open_only=True)
        return packets[-1] if packets else None

    def resume_bot(self) -> None:
        """The agent hands back: close the open handoff and let the bot answer again."""
        self._store.resume_bot(self.id)
        self._refresh()

    def feedback(self, answer_id: str, helpful: bool, comment: str | None = None) -> None:
        """Record whether an answer of this conversation helped (the comment is redacted like messages).

        Raises:
            NotFoundError: the answer id is not one of this conversation's answers.
        """
        if comment is not None and not self._settings.store_pii:
            comment = redact(comment).text
        self._store.add_feedback(self.id, answer_id, helpful=helpful, comment=comment)

    def add_agent_message(self, text: str) -> MessageRecord:
        """Store what an agent wrote to the citizen (redacted unless ``CC_STORE_PII=true``)."""
        clean = clean_question(text, max_chars=self._assistant.max_question_chars)
        redacted = redact(clean)
        keep = clean if self._settings.store_pii else redacted.text
        return self._store.add_message(
            self.id, "agent", keep, redacted=keep != clean, pii_kinds=sorted(redacted.kinds())
        )

    def _refresh(self) -> None:
        self._record = self._store.conversation(self.id)

    # -- asking ----------------------------------------------------------------------------------

    def ask(self, message: str) -> Answer:
        """Answer the citizen's next message, in the light of the conversation so far.

        Raises:
            InvalidQuestionError: the message is empty, too long, or not text (nothing is stored then).
        """
        turn = self._begin(message)
        if isinstance(turn, Answer):
            return turn
        generated = self._assistant.generator.generate(turn.standalone, turn.language, turn.passages)
        return self._complete(turn, generated)

    async def aask(self, message: str) -> Answer:
        """The async :meth:`ask` (the LLM call does not block the event loop)."""
        answer: Answer | None = None
        async for part in self.astream(message):
            if isinstance(part, Answer):
                answer = part
        assert answer is not None
        return answer

    async def astream(self, message: str) -> AsyncIterator[str | Answer]:
        """Yield the answer's text in parts as it is written, then the final :class:`Answer`.

        With the extractive generator, or a decision other than ``answer``, the text comes in one part.
        With an LLM, the parts are provisional: if the finished text fails the grounding check, the final
        Answer carries the extractive text instead (``generator == "extractive-fallback"``), which the
        client must show in place of the parts.
        """
        turn = await asyncio.to_thread(self._begin, message)
        if isinstance(turn, Answer):
            yield turn.text
            yield turn
            return
        generator: Any = self._assistant.generator
        generated: Generated | None = None
        if hasattr(generator, "astream"):
            async for part in generator.astream(turn.standalone, turn.language, turn.passages):
                if isinstance(part, Generated):
                    generated = part
                else:
                    yield part
        else:
            result: Generated = await asyncio.to_thread(
                generator.generate, turn.standalone, turn.language, turn.passages
            )
            generated = result
            yield result.text
        assert generated is not None
        yield await asyncio.to_thread(self._complete, turn, generated)

    # -- the steps of a turn ---------------------------------------------------------------------

    def _begin(self, message: str) -> _Turn | Answer:
        """Store the message, then decide everything short of generating an answer."""
        text = clean_question(message, max_chars=self._assistant.max_question_chars)
        redaction = redact(text)
        question = redaction.text
        stored = text if self._settings.store_pii else question
        self._store.add_message(
            self.id, "citizen", stored, redacted=stored != text, pii_kinds=sorted(redaction.kinds())
        )
        self._refresh()
        language = self._language(question)
        if self.paused:
            return self._reply(
                question, question, "handoff", phrase("handoff_waiting", language), language, {}
            )
        if wants_person(question):
            return self._handoff(question, language, "asked_for_person")
        if is_complaint(question):
            return self._handoff(question, language, "complaint")
        if _SMALLTALK_RE.match(fold(question)):
            return self._reply(question, question, "abstain", phrase("smalltalk", language), language, {})
        standalone, retrieval, procedure = self._resolve(question)
        planned = self._assistant.plan(
            standalone,
            language,
            retrieval,
            clarify_margin=CLARIFY_MARGIN if procedure is None and self._assistant.mode == "dense" else 0.0,
            clarify_max_words=CLARIFY_MAX_WORDS,
            intent=question,
        )
        if isinstance(planned, Answer):
            if planned.decision == "abstain":
                if self._record.abstain_streak >= 1:
                    return self._handoff(question, language, "repeated_abstain")
                return self._reply(question, standalone, planned, None, language, {"abstain_streak": 1})
            self._pending_options = list(planned.options)
            self._pending_question = standalone
            return self._reply(question, standalone, planned, None, language, {"abstain_streak": 0})
        self._pending_options = []
        return _Turn(question, standalone, language, retrieval, planned, procedure or retrieval.top_procedure)

    def _complete(self, turn: _Turn, generated: Generated) -> Answer:
        answer = self._assistant.finish(turn.standalone, turn.language, turn.retrieval, generated)
        title = answer.citations[0].title if answer.citations else self._record.active_title
        state = {"abstain_streak": 0, "active_procedure": turn.procedure, "active_title": title}
        return self._reply(turn.question, turn.standalone, answer, None, turn.language, state)

    def _language(self, question: str) -> str:
        """The message's language; a message too short to tell keeps the conversation's language."""
        if self._record.language and len(_words(question)) <= _CARRY_LANGUAGE_MAX_WORDS:
            return self._record.language
        return self._assistant.detector.detect(question)

    def _resolve(self, question: str) -> tuple[str, Retrieval, str | None]:
        """The standalone question, its retrieval, and the procedure carried forward (None if none)."""
        choice = self._chosen_option(question)
        if choice is not None:
            procedure, title = choice
            standalone = f"{title} — {self._pending_question}"
            return standalone, self._carry(standalone, procedure), procedure
        own = self._assistant.retrieve(question)
        active = self._record.active_procedure
        if (
            not active
            or not own.hits
            or (not own.verdict.in_scope and own.verdict.reason in ("injection", "other_commune"))
        ):
            return question, own, None
        if own.top_procedure == active and own.verdict.in_scope:
            return question, own, active
        words = _words(question)
        if len(words) > _FOLLOW_UP_MAX_WORDS or (
            own.top_procedure != active and _names_procedure(question, own.hits[0])
        ):
            return question, own, None
        off_topic = own.verdict.reason == "off_topic"
        if off_topic and _topical_words(question):
            # a whole question of its own that the City does not handle ("how do I apply for unemployment
            # benefit?"), not a few words about the procedure at hand
            return question, own, None
        asks_field = bool(asked_fields(question))
        refers_back = bool(_ANAPHORA_RE.search(fold(question))) and not off_topic
        if not (asks_field or refers_back):
            return question, own, None
        standalone = f"{self._record.active_title} — {question}"
        carried = self._carry(standalone, active)
        if asks_field and not carried.verdict.in_scope:
            # "combien ?" alone resembles nothing; about the active procedure, it is a plain question
            carried = Retrieval(carried.question, carried.hits, carried.confidence, ScopeVerdict("in_scope"))
        return standalone, carried, active

    def _carry(self, standalone: str, procedure: str) -> Retrieval:
        """Retrieval for a rewritten follow-up, with the carried procedure's passages first."""
        found = self._assistant.retrieve(standalone)
        first = [h for h in found.hits if (h.procedure or h.doc_id) == procedure]
        if not first:
            # the procedure's own chunks, when the rewritten question did not bring any back
            versions = self._assistant.kb.versions(procedure)
            doc_id = versions.get(self._record.language or "") or next(iter(versions.values()), None)
            if doc_id:
                from knowledge_base.index import hit_from_chunk

                first = [
                    hit_from_chunk(c, found.confidence) for c in self._assistant.kb.chunks_of(doc_id)[:1]
                ]
        rest = [h for h in found.hits if h not in first]
        return Retrieval(found.question, first + rest, found.confidence, found.verdict)

    def _chosen_option(self, question: str) -> tuple[str, str] | None:
        """After a clarify: the (procedure, title) the citizen picked by number or by name."""
        if not self._pending_options:
            return None
        folded = fold(question).strip(" .!?")
        picked: Citation | None = None
        number = re.fullmatch(r"(?:n[°o]?\s*)?([1-9])", folded)
        if number and int(number.group(1)) <= len(self._pending_options):
            picked = self._pending_options[int(number.group(1)) - 1]
        else:
            for option in self._pending_options:
                if folded and (folded in fold(option.title) or fold(option.title) in folded):
                    picked = option
                    break
        if picked is None:
            return None
        chunks = self._assistant.kb.chunks_of(picked.doc_id)
        procedure = chunks[0].procedure if chunks and chunks[0].procedure else picked.doc_id
        return procedure, picked.title

    def _reply(
        self,
        question: str,
        standalone: str,
        answer: Answer | Decision,
        text: str | None,
        language: str,
        state: dict[str, Any],
    ) -> Answer:
        """Store the answer (and the conversation's new state) and return it."""
        if isinstance(answer, str):
            answer = Answer(
                decision=answer,
                text=text or "",
                language=language,
                question=standalone,
                answer_id=uuid.uuid4().hex,
            )
        # what the bot says is stored redacted too: an extractive answer may quote a passage, never a
        # citizen, but a generated one could echo what the citizen wrote
        shown = (
            answer.text
            if self._settings.store_pii
            else redact(answer.text, kinds=("national_number", "iban", "email")).text
        )
        self._store.record_answer(
            self.id,
            answer,
            question=question,
            standalone_question=standalone,
            text=shown,
            redacted=shown != answer.text,
            state={"language": language, **state},
        )
        self._record = self._record.model_copy(update={"language": language, **state})
        return answer

    def _handoff(self, question: str, language: str, reason: HandoffReason) -> Answer:
        """Hand the conversation to an agent: store the packet, pause the bot, tell the citizen."""
        key = "handoff_complaint" if reason == "complaint" else "handoff"
        answer = self._reply(question, question, "handoff", phrase(key, language), language, {})
        self._store.add_handoff(self._packet(question, language, reason))
        self._record = self._record.model_copy(update={"status": "paused", "abstain_streak": 0})
        return answer

    def _packet(self, question: str, language: str, reason: HandoffReason) -> HandoffPacket:
        answers = self._store.answers(self.id)
        sources: list[Citation] = []
        procedures: list[str] = []
        for stored in answers:
            for citation in stored.citations:
                if citation not in sources:
                    sources.append(citation)
                if citation.title not in procedures:
                    procedures.append(citation.title)
        # the packet is always redacted, whatever the store keeps
        transcript = [(m.role, redact(m.text).text) for m in self._store.messages(self.id)]
        lang = language if language in _SUMMARY else "en"
        reason_line, procedures_line, question_line = _SUMMARY[lang]
        summary = " ".join(
            (
                reason_line.format(reason=_REASONS[lang][reason]),
                procedures_line.format(procedures=", ".join(procedures) or _NONE[lang]),
                question_line.format(question=question[:300]),
            )
        )
        return HandoffPacket(
            id=uuid.uuid4().hex,
            conversation_id=self.id,
            channel=self._record.channel,
            citizen_ref=self._record.citizen_ref,
            reason=reason,
            language=language,
            summary=summary,
            last_question=question,
            procedures=procedures,
            sources=sources,
            transcript=transcript,
            created_at=datetime.now(UTC),
        )
