"""Runtime glue for the voice concern: wire handlers, one VoiceConversation per voice-mode
conversation, and a TurnSink that speaks the streamed NPC text (see docs/voice.md)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..dialogue.context import DialogueContext
from ..dialogue.providers.authored import AuthoredProvider
from ..errors import ConfigError
from ..personas.schema import Persona
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages import Message
from ..protocol.messages.voice import (
    AudioChunk,
    AudioReady,
    AudioStart,
    PlaybackReport,
    PlaybackStarted,
    SpeechEnd,
    SpeechStart,
)
from ..voice.config import VoiceConfig
from ..voice.models import shared_stt, shared_tts, shared_vad
from ..voice.sentences import SentenceSplitter, split_first
from ..voice.session import Prediction, VoiceConversation
from ..voice.speaker import Reply
from ..voice.stt.vocab import scene_phrases, scene_words
from ..voice.tts.base import TtsProvider, VoiceParams
from .extension import Extension, Handler, TurnSink

if TYPE_CHECKING:
    from .app import Session
    from .conversations import Conversation

log = logging.getLogger(__name__)

VOICE_MODES = ("push_to_talk", "hands_free")


def _log_load_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("voice models failed to load: %s", task.exception())


class _Port:
    """What a VoiceConversation may do to its Conversation."""

    def __init__(
        self, ext: VoiceExtension, conv: Conversation, voice: VoiceConversation | None = None
    ) -> None:
        self.ext = ext
        self.conv = conv
        self.voice = voice

    async def send(self, msg: Message) -> None:
        await self.conv.send(msg)

    def start_turn(self, text: str) -> None:
        assert self.voice is not None
        task = asyncio.create_task(self._turn(text), name=f"voice-turn-{self.conv.id}")
        self.voice.turn_tasks.add(task)
        task.add_done_callback(self.voice.turn_tasks.discard)

    async def _turn(self, text: str) -> None:
        assert self.voice is not None
        try:
            # After a barge-in the interrupted reply is still unwinding; start once it has.
            await asyncio.wait_for(self.voice.stream_idle.wait(), 10.0)
        except TimeoutError:
            log.warning("conversation %s: previous reply still streaming; answering anyway", self.conv.id)
        try:
            await self.conv.run_turn(text)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("voice turn failed in conversation %s", self.conv.id)

    def interrupt_reply(self) -> bool:
        return self.conv.interrupt()

    async def predict(self, text: str) -> Prediction | None:
        """The first sentence an authored topic would answer ``text`` with, read without running
        the turn: no provider call (the authored provider counts the lines it used), no action, no
        history. Conversations with several NPCs, fallback lines and LLM replies are not predicted
        (the transcript is still finalised early)."""
        conv, runtime = self.conv, self.ext.runtime
        if conv.closed or len(conv.npc_ids) != 1:
            return None
        npc_id = conv.npc_ids[0]
        persona = runtime.personas.get(npc_id)
        if persona is None:
            return None
        ctx = DialogueContext(
            persona=persona, player_id=conv.player_id, player_text=text, history=list(conv.history)
        )
        for ext in runtime.extensions:
            await ext.contribute_context(conv, ctx)  # read-only apart from the world's time catch-up
        authored = runtime.pick_provider(ctx)
        if not isinstance(authored, AuthoredProvider):
            return None
        text_ahead = _authored_answer(authored, ctx)
        if not text_ahead:
            return None
        splitter = SentenceSplitter()
        sentences = splitter.feed(text_ahead) + splitter.flush()
        if not sentences:
            return None
        provider, params = self.ext.voice_for(npc_id)
        return Prediction(npc_id, split_first(sentences[0])[0], provider, params)


def _authored_answer(authored: AuthoredProvider, ctx: DialogueContext) -> str | None:
    """The line ``authored.stream(ctx)`` would give, read without recording it (a wrong guess only
    costs the speculative synthesis)."""
    return authored.peek(ctx).text


class VoiceSink(TurnSink):
    """Streamed NPC text -> sentence-by-sentence speech; on_end returns the words heard."""

    def __init__(self, ext: VoiceExtension, voice: VoiceConversation) -> None:
        self.ext = ext
        self.voice = voice
        self._replies: dict[int, Reply] = {}

    async def on_start(self, conv: Conversation, turn_id: int, npc_id: str) -> None:
        self.voice.stream_idle.clear()
        provider, params = self.ext.voice_for(npc_id)
        reply = Reply(turn_id, npc_id, provider, params, timer=self.voice.next_timer)
        self.voice.next_timer = None
        self._replies[turn_id] = reply
        self.voice.speaker.begin(reply)

    async def on_text(self, conv: Conversation, turn_id: int, npc_id: str, text: str) -> None:
        reply = self._replies.get(turn_id)
        if reply is not None and not reply.stopped:
            self.voice.speaker.text(reply, text)

    async def on_end(
        self, conv: Conversation, turn_id: int, npc_id: str, full_text: str, interrupted: bool
    ) -> str | None:
        self.voice.stream_idle.set()  # the reply stream is over (the audio may still be playing)
        reply = self._replies.pop(turn_id, None)
        if reply is None:
            return None
        speaker = self.voice.speaker
        if interrupted or reply.stopped:
            await speaker.stop(reply, "barge_in" if reply.stopped else "interrupt")
            return await self._heard_after_stop(reply)
        speaker.end_of_text(reply)
        try:
            await speaker.wait_synth(reply, timeout=60.0)
        except TimeoutError:
            await speaker.stop(reply, "interrupt")
        if reply.timer is not None and not reply.timer.sent:
            reply.timer.turn_id = turn_id
            reply.timer.sent = True
            await conv.send(reply.timer.message())
        if reply.playback_started is None or reply.stopped:
            return None if not reply.stopped else await self._heard_after_stop(reply)
        # The client reports playback: wait until it is over or the player barges in.
        now = self.ext.runtime.clock.monotonic()
        remaining = reply.playback_started + reply.sent_ms / 1000.0 - now + 1.0
        try:
            await asyncio.wait_for(reply.finished.wait(), max(0.0, remaining))
        except TimeoutError:
            return None
        if reply.stopped:
            return await self._heard_after_stop(reply)
        return None if reply.played_ms is None and reply.heard_chars is None else reply.heard_text(now)

    async def _heard_after_stop(self, reply: Reply) -> str:
        if reply.seq == 0:
            return ""
        if not reply.report.is_set():
            try:
                await asyncio.wait_for(reply.report.wait(), self.voice.cfg.report_wait_ms / 1000.0)
            except TimeoutError:
                log.debug("no playback_report for turn %s; estimating what was heard", reply.turn_id)
        return reply.heard_text(self.ext.runtime.clock.monotonic())


class VoiceExtension(Extension):
    name = "voice"

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime)
        try:
            self.cfg = VoiceConfig.model_validate(runtime.settings.voice or {})
        except ValidationError as exc:
            raise ConfigError(f"settings 'voice' section: {exc}") from exc
        self.sessions: dict[str, VoiceConversation] = {}
        self._stt: Any = None
        self._vad: Any = None
        self._loading: asyncio.Task[None] | None = None

    # lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        # Models take a few seconds to load (STT worker processes, the Piper voice). By default the
        # runtime waits for them, so a voice conversation never stalls; with warm_up false they
        # load in the background and the first voice conversation waits.
        self._loading = asyncio.create_task(self._load(), name="voice-models")
        self._loading.add_done_callback(_log_load_failure)
        if self.cfg.warm_up:
            await asyncio.wait({self._loading})

    async def _load(self) -> None:
        self._vad = await asyncio.to_thread(shared_vad, self.cfg.vad)
        self._stt = await asyncio.to_thread(
            shared_stt, self.cfg.stt, self.cfg.stt_options, self.cfg.stt_processes
        )
        await asyncio.to_thread(self._update_vocabulary)
        provider = await asyncio.to_thread(self.tts, self.cfg.tts)
        await asyncio.to_thread(provider.warm_up, VoiceParams())

    async def ready(self) -> None:
        """Wait until the models are loaded; a load failure is raised here (e.g. a missing package)."""
        if self._loading is None:
            self._loading = asyncio.create_task(self._load())
        await asyncio.shield(self._loading)

    async def stop(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        for voice in list(self.sessions.values()):
            await voice.close()
        self.sessions.clear()

    def on_personas_changed(self, npc_ids: list[str]) -> None:
        if self._stt is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._update_vocabulary()
            return
        loop.run_in_executor(None, self._update_vocabulary)  # espeak-ng calls: off the event loop

    def _update_vocabulary(self) -> None:
        if self._stt is None:
            return
        extra = list(self.cfg.scene_words)
        world = self.runtime.extension("world")
        names = getattr(world, "scene_names", None)
        if callable(names):
            try:
                extra += list(names())
            except Exception:
                log.exception("world extension failed to list scene names")
        personas = self.runtime.personas.all()
        self._stt.set_vocabulary(scene_words(personas, extra))
        self._stt.set_phrases(scene_phrases(personas))

    def check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        vs = persona.voice
        name = vs.tts or self.cfg.tts
        if vs.voice and name == "piper" and not Path(vs.voice).is_file():
            return [
                ("voice.voice", f"Piper voice file '{vs.voice}' not found; give the path of a .onnx voice")
            ]
        return []

    def tts(self, name: str) -> TtsProvider:
        return shared_tts(name, self.cfg.tts_options.get(name, {}))

    def voice_for(self, npc_id: str) -> tuple[TtsProvider, VoiceParams]:
        persona = self.runtime.personas.get(npc_id)
        vs = persona.voice if persona is not None else None
        name = (vs.tts if vs is not None else None) or self.cfg.tts
        try:
            provider = self.tts(name)
        except Exception as exc:
            log.warning("TTS %s is not available (%s); using %s", name, exc, self.cfg.fallback_tts)
            provider = self.tts(self.cfg.fallback_tts or "espeak")
        if vs is None:
            return provider, VoiceParams()
        return provider, VoiceParams(voice=vs.voice, speaker=vs.speaker, speed=vs.speed, pitch=vs.pitch)

    def _fallback(self) -> TtsProvider | None:
        if self.cfg.fallback_tts is None:
            return None
        try:
            return self.tts(self.cfg.fallback_tts)
        except Exception:
            return None

    # conversations -------------------------------------------------------------------------------
    async def on_conversation_start(self, conv: Conversation) -> None:
        if conv.mode not in VOICE_MODES:
            return
        try:
            await self.ready()
        except Exception as exc:
            raise ProtocolError(
                ErrorCode.PROVIDER_FAILED, f"voice is not available on this runtime: {exc}"
            ) from exc
        port = _Port(self, conv)
        voice = VoiceConversation(
            conv.id, conv.mode, self.cfg, self._vad, self._stt, port, self.runtime.clock, self._fallback()
        )
        port.voice = voice
        self.sessions[conv.id] = voice
        conv.sinks.append(VoiceSink(self, voice))

    async def on_conversation_end(self, conv: Conversation, reason: str) -> None:
        voice = self.sessions.pop(conv.id, None)
        if voice is not None:
            await voice.close()

    # wire ------------------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        return {
            "audio_start": self._on_audio_start,
            "audio_chunk": self._on_audio_chunk,
            "speech_start": self._on_speech_start,
            "speech_end": self._on_speech_end,
            "playback_started": self._on_playback_started,
            "playback_report": self._on_playback_report,
        }

    def _voice(self, session: Session, conversation_id: str, ref: Any) -> VoiceConversation:
        conv = self.runtime.conversation_of(session, conversation_id, ref)
        voice = self.sessions.get(conv.id)
        if voice is None:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"conversation {conversation_id} is in '{conv.mode}' mode; start it with mode "
                "'push_to_talk' or 'hands_free' to send audio",
                ref=ref,
            )
        return voice

    async def _on_audio_start(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, AudioStart)
        voice = self._voice(session, msg.conversation_id, msg.id)
        voice.configure(msg.sample_rate, msg.format, msg.channels, ref=msg.id)
        tts, params = self.voice_for(self.runtime.conversations[msg.conversation_id].npc_ids[0])
        await self.runtime.send(
            session,
            AudioReady(
                ref=msg.id,
                conversation_id=msg.conversation_id,
                sample_rate=msg.sample_rate,
                mode=voice.mode,
                tts_sample_rate=tts.sample_rate(params),
            ),
        )

    async def _on_audio_chunk(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, AudioChunk)
        self._voice(session, msg.conversation_id, msg.id).audio(msg.seq, msg.pcm, ref=msg.id)

    async def _on_speech_start(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, SpeechStart)
        self._voice(session, msg.conversation_id, msg.id).key(True, ref=msg.id)

    async def _on_speech_end(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, SpeechEnd)
        self._voice(session, msg.conversation_id, msg.id).key(False, ref=msg.id)

    async def _on_playback_started(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, PlaybackStarted)
        reply = self._voice(session, msg.conversation_id, msg.id).speaker.replies.get(msg.turn_id)
        if reply is not None and reply.playback_started is None:
            reply.playback_started = self.runtime.clock.monotonic()

    async def _on_playback_report(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, PlaybackReport)
        reply = self._voice(session, msg.conversation_id, msg.id).speaker.replies.get(msg.turn_id)
        if reply is None:
            return  # a late report for a turn long gone: nothing to correct
        reply.played_ms = msg.played_ms
        reply.heard_chars = msg.heard_chars
        reply.report.set()
        if msg.finished:
            reply.finished.set()
