"""The voice concern's extension: wire handlers, one VoiceConversation per voice-mode
conversation, and a TurnSink that speaks the streamed NPC text (see docs/voice.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..dialogue.context import DialogueContext
from ..errors import ConfigError
from ..host import ConversationControl, ConversationView, Extension, Host, Peer, Route, TurnSink, route
from ..personas.schema import Persona
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages.voice import (
    AudioChunk,
    AudioReady,
    AudioStart,
    PlaybackReport,
    PlaybackStarted,
    SpeechEnd,
    SpeechStart,
)
from . import threads
from .character import select_delivery, voice_params
from .config import VoiceConfig
from .events import Heard, Problem, VoiceEvent
from .models import shared_stt, shared_tts, shared_vad
from .phrases import first_phrases
from .s2s import S2sProfile, open_session
from .s2s.turn import S2sTurns
from .sentences import SentenceSplitter, split_first
from .session import Prediction, VoiceConversation
from .speaker import Reply
from .stt.vocab import scene_phrases, scene_words
from .tts.base import TtsProvider, VoiceParams
from .tts.cache import CachedTts
from .turn.smart_turn import shared_model
from .wire import to_message

log = logging.getLogger(__name__)

VOICE_MODES = ("push_to_talk", "hands_free")


def _log_load_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("voice models failed to load: %s", task.exception())


class _Port:
    """What a VoiceConversation may do to its conversation."""

    def __init__(self, ext: VoiceExtension, conv: ConversationControl) -> None:
        self.ext = ext
        self.conv = conv
        self.voice: VoiceConversation | None = None
        self.s2s: S2sTurns | None = None  # this conversation's speech-to-speech path, if any

    async def emit(self, event: VoiceEvent) -> None:
        if isinstance(event, Heard) and not event.final and self.s2s is None:
            self.conv.prefill(event.text)  # a language model reads the turn while the player talks
        await self.conv.send(to_message(self.conv.id, event))

    def start_turn(self, text: str) -> None:
        assert self.voice is not None
        if self.s2s is not None:
            self.s2s.end()  # the utterance is committed now, answered when its turn runs
        task = asyncio.create_task(self._turn(text), name=f"voice-turn-{self.conv.id}")
        self.voice.turn_tasks.add(task)
        task.add_done_callback(self.voice.turn_tasks.discard)

    async def _turn(self, text: str) -> None:
        assert self.voice is not None
        try:
            # After a barge-in the interrupted reply is still unwinding; start once it has.
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns normally when this
            # task is cancelled (the conversation ends) as the stream goes idle, and the cancelled
            # turn would run.
            async with asyncio.timeout(10.0):
                await self.voice.stream_idle.wait()
        except TimeoutError:
            log.warning("conversation %s: previous reply still streaming; answering anyway", self.conv.id)
        try:
            await self.conv.run_turn(text, reply_with=self.s2s.provider if self.s2s is not None else None)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("voice turn failed in conversation %s", self.conv.id)

    def interrupt_reply(self) -> bool:
        return self.conv.interrupt()

    def input_pending(self) -> bool:
        return self.ext.host.input_pending()

    async def predict(self, text: str) -> Prediction | None:
        """The first sentence of the authored line the turn would answer ``text`` with, read
        without running the turn (no action, no history, nothing recorded)."""
        if self.s2s is not None:  # the model speaks the reply: nothing to synthesize ahead
            return None
        preview = await self.ext.host.preview_reply(self.conv, text)
        if preview is None:
            return None
        npc_id, line = preview
        splitter = SentenceSplitter()
        sentences = splitter.feed(line) + splitter.flush()
        if not sentences:
            return None
        # The mood as of the last turn (the prediction has no context of its own; a mood that
        # changes with this turn only costs the speculative synthesis).
        provider, params = self.ext.voice_for(npc_id, self.conv.turn_context)
        return Prediction(npc_id, split_first(sentences[0])[0], provider, params)


class VoiceSink(TurnSink):
    """Streamed NPC text -> sentence-by-sentence speech; on_end returns the words heard."""

    def __init__(
        self,
        ext: VoiceExtension,
        conv: ConversationControl,
        voice: VoiceConversation,
        s2s: S2sTurns | None = None,
    ) -> None:
        self.ext = ext
        self.conv = conv
        self.voice = voice
        self.s2s = s2s
        self._replies: dict[int, Reply] = {}

    async def on_start(self, turn_id: int, npc_id: str) -> None:
        self.voice.stream_idle.clear()
        provider, params = self.ext.voice_for(npc_id, self.conv.turn_context)
        reply = Reply(turn_id, npc_id, provider, params, timer=self.voice.next_timer)
        self.voice.next_timer = None
        if reply.timer is not None and self.conv.turn_context is not None:
            reply.timer.dialogue = self.conv.turn_context.extra  # filled by the provider as it runs
        self._replies[turn_id] = reply
        self.voice.speaker.begin(reply)
        self.ext.warm_mood(npc_id, self.conv.turn_context)  # the NPC's mood now: its next lines too

    async def on_text(self, turn_id: int, npc_id: str, text: str) -> None:
        reply = self._replies.get(turn_id)
        if reply is not None and not reply.stopped and not reply.external:
            self.voice.speaker.text(reply, text)

    async def on_end(self, turn_id: int, npc_id: str, full_text: str, interrupted: bool) -> str | None:
        self.voice.stream_idle.set()  # the reply stream is over (the audio may still be playing)
        reply = self._replies.pop(turn_id, None)
        if reply is None:
            return None
        speaker = self.voice.speaker
        if interrupted or reply.stopped:
            await speaker.stop(reply, "barge_in" if reply.stopped else "interrupt")
            heard = await self._heard_after_stop(reply)
            if self.s2s is not None and reply.external:
                await self.s2s.heard(reply)  # the model forgets what the player did not hear
            return heard
        speaker.end_of_text(reply)
        try:
            await speaker.wait_synth(reply, timeout=60.0)
        except TimeoutError:
            await speaker.stop(reply, "interrupt")
        if reply.timer is not None and not reply.timer.sent:
            reply.timer.turn_id = turn_id
            reply.timer.sent = True
            await self.conv.send(to_message(self.conv.id, reply.timer.event()))
        await self._await_playback_start(reply)
        if reply.playback_started is None or reply.stopped:
            return None if not reply.stopped else await self._heard_after_stop(reply)
        # The client reports playback: wait until it is over or the player barges in, or until
        # 1 s after the audio's end on the runtime's clock (re-read after each wait: a test's
        # frozen clock keeps the audio playing until the client reports, however slow the machine).
        clock = self.ext.host.clock
        end = reply.playback_started + reply.sent_ms / 1000.0 + 1.0
        while not reply.finished.is_set():
            now = clock.monotonic()
            if now >= end:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(end - now):  # not wait_for: see _Port._turn
                    await reply.finished.wait()
        now = clock.monotonic()
        if reply.stopped:
            heard = await self._heard_after_stop(reply)
            if self.s2s is not None and reply.external:
                await self.s2s.heard(reply)
            return heard
        return None if reply.played_ms is None and reply.heard_chars is None else reply.heard_text(now)

    async def _await_playback_start(self, reply: Reply) -> None:
        """Give the client's playback_started time to arrive after a short line's synthesis.

        The client sends it when the first audio chunk plays, so for a line synthesised faster
        than that message travels (and is dispatched, on a loaded machine) the turn would end
        here as if the client did not report playback, and a following interrupt would find
        nothing playing. Wait for it: briefly while we do not know whether this client reports
        playback (once per conversation), up to a 5 s hang bound when it has reported before.
        Real time, not the runtime clock: this waits on the network, not on the audio.
        """
        voice = self.voice
        if reply.playback_started is not None or reply.stopped or reply.seq == 0:
            return
        if voice.reports_playback is False:
            return
        bound = 5.0 if voice.reports_playback else voice.cfg.start_wait_ms / 1000.0
        waits = {asyncio.ensure_future(reply.started.wait()), asyncio.ensure_future(reply.finished.wait())}
        try:
            done, _ = await asyncio.wait(waits, timeout=bound, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if not done and voice.reports_playback is None:
            voice.reports_playback = False
            log.debug("conversation %s sends no playback_started: playback is estimated", voice.id)

    async def on_interrupt(self) -> None:
        for reply in list(self.voice.speaker.replies.values()):
            if not reply.stopped and reply.playing(self.ext.host.clock.monotonic()):
                await self.voice.speaker.stop(reply, "interrupt")

    async def _heard_after_stop(self, reply: Reply) -> str:
        if reply.seq == 0:
            return ""
        if not reply.report.is_set():
            try:
                async with asyncio.timeout(self.voice.cfg.report_wait_ms / 1000.0):
                    await reply.report.wait()
            except TimeoutError:
                log.debug("no playback_report for turn %s; estimating what was heard", reply.turn_id)
        return reply.heard_text(self.ext.host.clock.monotonic())


class VoiceExtension(Extension):
    name = "voice"

    def __init__(self, host: Host, *, scene_names: Callable[[], list[str]] | None = None) -> None:
        """``scene_names``: names of the scene (the world's places, people, items) that speech
        recognition should expect, besides the personas' own (wired by the host)."""
        super().__init__(host)
        self._scene_names = scene_names
        try:
            self.cfg = VoiceConfig.model_validate(host.settings.voice or {})
        except ValidationError as exc:
            raise ConfigError(f"settings 'voice' section: {exc}") from exc
        for profile in self.cfg.s2s.profiles.values():
            if profile.provider == "openai-realtime":  # a missing API key fails at start, not mid-game
                from .s2s.openai_realtime import api_key_for

                api_key_for(profile)
        self.voices: dict[str, VoiceConversation] = {}
        self.s2s: dict[str, S2sTurns] = {}  # conversation id -> its speech-to-speech path
        self._stt: Any = None
        self._vad: Any = None
        self._loading: asyncio.Task[None] | None = None
        self._warming: asyncio.Task[None] | None = None
        self._moods_warmed: set[tuple[str, VoiceParams]] = set()
        self._mood_tasks: set[asyncio.Task[int]] = set()

    # lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        # Blocking voice work runs in voice's own bounded pool (voice/threads.py), not the loop's
        # default one, which the rest of the runtime keeps as asyncio made it.
        # Models take a few seconds to load (STT worker processes, the Piper voice). By default the
        # runtime waits for them, so a voice conversation never stalls; with warm_up false they
        # load when the first voice conversation starts (text-only uses never load them).
        if self.cfg.warm_up:
            await self.ready()

    async def _load(self) -> None:
        async def step(what: str, fn: Callable[[], Any]) -> Any:
            t0 = time.perf_counter()
            result = await threads.run(fn)
            log.info("voice: %s ready in %.1f s", what, time.perf_counter() - t0)
            return result

        cfg = self.cfg
        self._vad = await step(f"VAD ({cfg.vad})", lambda: shared_vad(cfg.vad))
        self._stt = await step(
            f"speech recognition ({cfg.stt}, {cfg.stt_processes} processes)",
            lambda: shared_stt(cfg.stt, cfg.stt_options, cfg.stt_processes),
        )
        await step("scene vocabulary", self._update_vocabulary)
        provider = await step(f"voice ({cfg.tts})", lambda: self.tts(cfg.tts))
        await step("voice warm-up", lambda: provider.warm_up(VoiceParams()))
        if cfg.turn.policy in ("auto", "smart_turn"):
            await step(
                "end-of-turn model (smart-turn v3.2)",
                lambda: shared_model(cfg.turn.threads, cfg.turn.model_path),
            )
        self._start_warming()

    async def ready(self) -> None:
        """Wait until the models are loaded; a load failure is raised here (e.g. a missing package)."""
        if self._loading is None:
            self._loading = asyncio.create_task(self._load(), name="voice-models")
            self._loading.add_done_callback(_log_load_failure)
        await asyncio.shield(self._loading)

    async def stop(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
        for task in list(self._mood_tasks):
            task.cancel()
        for voice in list(self.voices.values()):
            await voice.close()
        self.voices.clear()
        for s2s in list(self.s2s.values()):
            await s2s.close()
        self.s2s.clear()

    def on_personas_changed(self, npc_ids: list[str]) -> None:
        if self._stt is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._update_vocabulary()
            return
        loop.run_in_executor(threads.pool(), self._update_vocabulary)  # espeak-ng calls: off the event loop
        if self._loading is not None and self._loading.done():
            self._moods_warmed.clear()  # a changed persona's moods are warmed again when reached
            self._start_warming()  # a changed voice block has new keys: its phrases are new

    def _update_vocabulary(self) -> None:
        if self._stt is None:
            return
        extra = list(self.cfg.scene_words)
        if self._scene_names is not None:
            extra += self._scene_names()
        personas = self.host.personas.all()
        self._stt.set_vocabulary(scene_words(personas, extra))
        self._stt.set_phrases(scene_phrases(personas))

    def check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        vs = persona.voice
        problems: list[tuple[str, str]] = []
        if vs.s2s not in (None, "none") and vs.s2s not in self.cfg.s2s.profiles:
            known = ", ".join(sorted(self.cfg.s2s.profiles)) or "none are configured"
            problems.append(
                (
                    "voice.s2s",
                    f"no speech-to-speech profile '{vs.s2s}' in settings voice.s2s.profiles ({known}); "
                    "use one of them or 'none'",
                )
            )
        name = vs.tts or self.cfg.tts
        if vs.voice and name == "piper" and not Path(vs.voice).is_file():
            problems.append(
                ("voice.voice", f"Piper voice file '{vs.voice}' not found; give the path of a .onnx voice")
            )
        return problems

    def tts(self, name: str) -> TtsProvider:
        cfg = self.cfg
        return shared_tts(name, cfg.tts_options.get(name, {}), cfg.tts_cache_mb, cfg.tts_cache_dir)

    # phrase cache ------------------------------------------------------------------------------
    def _start_warming(self) -> None:
        # warm_up false asks for lazy loading (text-only uses, tests): no phrases ahead either
        if not (self.cfg.warm_up and self.cfg.tts_cache_warm) or self.cfg.tts_cache_mb <= 0:
            return
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
        self._warming = asyncio.create_task(self._warm_phrases(), name="voice-phrase-cache")
        self._warming.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _busy(self) -> bool:
        """A voice conversation is hearing an utterance or speaking a reply being synthesised."""
        for voice in self.voices.values():
            if voice.segmenter.in_speech or voice.turn_tasks:
                return True
            current = voice.speaker.current
            if current is not None and current.task is not None and not current.task.done():
                return True
        return False

    async def _warm_phrases(self) -> None:
        """Synthesise every persona's first phrases in its voice as it is without a mood, one at
        a time, waiting while a conversation is busy: the cache must never slow a live turn.
        (A mood's variants are warmed when an NPC is first heard in that mood: :meth:`warm_mood`;
        warming every mood at start would cost several times the CPU for moods never reached.)"""
        items: list[tuple[CachedTts, str, VoiceParams]] = []
        for persona in self.host.personas.all():
            provider, params = self.voice_for(persona.id)
            if isinstance(provider, CachedTts):
                items += [(provider, text, params) for text in first_phrases(persona)]
        await self._warm_items(items, "default moods")

    async def _warm_items(self, items: list[tuple[CachedTts, str, VoiceParams]], what: str) -> int:
        t0 = time.perf_counter()
        made = 0
        for provider, text, params in items:
            while self._busy():
                await asyncio.sleep(0.05)
            made += await threads.run(provider.warm, [(text, params)])
        log.info(
            "voice: phrase cache warm (%s, %d phrases synthesised, %.1f s)",
            what,
            made,
            time.perf_counter() - t0,
        )
        return made

    def warm_mood(self, npc_id: str, ctx: DialogueContext | None) -> asyncio.Task[int] | None:
        """In the background, the NPC's first phrases in the mood its ``voice.moods`` pick for
        ``ctx`` (its current state), when that differs from the default mood warmed at start:
        an NPC that turned angry answers its next lines from the cache too. Each (NPC, voice)
        once per process; the task, or None when there is nothing new to warm."""
        if not self.cfg.tts_cache_warm or self.cfg.tts_cache_mb <= 0 or ctx is None:
            return None
        provider, params = self.voice_for(npc_id, ctx)
        persona = self.host.personas.get(npc_id)
        if persona is None or not isinstance(provider, CachedTts) or params == self.voice_for(npc_id)[1]:
            return None
        if (npc_id, params) in self._moods_warmed:
            return None
        self._moods_warmed.add((npc_id, params))
        mood = params.delivery.mood if params.delivery is not None else "neutral"
        items = [(provider, text, params) for text in first_phrases(persona)]
        task = asyncio.create_task(self._warm_items(items, f"{npc_id} {mood}"), name=f"voice-mood-{npc_id}")
        self._mood_tasks.add(task)
        task.add_done_callback(self._mood_tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    def voice_for(self, npc_id: str, ctx: DialogueContext | None = None) -> tuple[TtsProvider, VoiceParams]:
        """The NPC's TTS and voice; with a turn's context, in the mood its ``voice.moods`` pick."""
        persona = self.host.personas.get(npc_id)
        vs = persona.voice if persona is not None else None
        name = (vs.tts if vs is not None else None) or self.cfg.tts
        try:
            provider = self.tts(name)
        except Exception as exc:
            log.warning("TTS %s is not available (%s); using %s", name, exc, self.cfg.fallback_tts)
            provider = self.tts(self.cfg.fallback_tts or "espeak")
        if ctx is not None and ctx.persona.id == npc_id:
            mood = select_delivery(vs, ctx.allows)
        else:  # no context: only a rule without a condition applies (as it will in the turn)
            mood = select_delivery(vs, lambda _when: False)
        return provider, voice_params(vs, mood)

    def tts_rate(self, npc_id: str) -> int:
        """The sample rate of the NPC's voice (what ``audio_ready`` announces)."""
        provider, params = self.voice_for(npc_id)
        return provider.sample_rate(params)

    def s2s_profile(self, npc_ids: list[str], asked: str | None = None) -> S2sProfile | None:
        """The speech-to-speech profile a conversation with these NPCs answers with, or None for the
        cascade: the one the client ``asked`` for at conversation_start, else the persona's
        ``voice.s2s``, else the runtime's ``voice.s2s.default``; groups always use the cascade
        (one model voice cannot speak for several people)."""
        if len(npc_ids) != 1:
            return None
        persona = self.host.personas.get(npc_ids[0])
        name = asked or (persona.voice.s2s if persona is not None else None) or self.cfg.s2s.default
        if name is None or name == "none":
            return None
        return self.cfg.s2s.profiles.get(name)

    def _fallback(self) -> TtsProvider | None:
        if self.cfg.fallback_tts is None:
            return None
        try:
            return self.tts(self.cfg.fallback_tts)
        except Exception as exc:  # a missing package or model: the reply stays text only
            log.warning(
                "fallback TTS %s is not available (%s: %s)", self.cfg.fallback_tts, type(exc).__name__, exc
            )
            return None

    # conversations -------------------------------------------------------------------------------
    def _check_asked(self, conv: ConversationControl) -> None:
        asked = conv.s2s
        if asked is None or asked == "none":
            return
        problem = None
        if asked not in self.cfg.s2s.profiles:
            known = ", ".join(sorted(self.cfg.s2s.profiles)) or "none are configured"
            problem = f"s2s: no speech-to-speech profile '{asked}' on this runtime ({known}); or 'none'"
        elif conv.mode not in VOICE_MODES:
            problem = "s2s: speech-to-speech needs mode 'push_to_talk' or 'hands_free'"
        elif len(conv.npc_ids) != 1:
            problem = "s2s: speech-to-speech speaks for one NPC; start the group without it"
        if problem is not None:
            raise ProtocolError(ErrorCode.INVALID_FIELDS, problem)

    async def on_conversation_start(self, conv: ConversationControl) -> None:
        self._check_asked(conv)
        if conv.mode not in VOICE_MODES:
            return
        try:
            await self.ready()
        except Exception as exc:
            raise ProtocolError(
                ErrorCode.PROVIDER_FAILED, f"voice is not available on this runtime: {exc}"
            ) from exc
        port = _Port(self, conv)
        persona = self.host.personas.get(conv.npc_ids[0]) if len(conv.npc_ids) == 1 else None
        voice = VoiceConversation(
            conv.id,
            conv.mode,
            self.cfg,
            self._vad,
            self._stt,
            port,
            self.host.clock,
            self._fallback(),
            turn_max_ms=persona.voice.turn_max_ms if persona is not None else None,
        )
        port.voice = voice
        self.voices[conv.id] = voice
        profile = self.s2s_profile(conv.npc_ids, conv.s2s)
        if profile is not None:
            try:
                session = open_session(profile)
            except Exception as exc:  # a missing key or package: this conversation uses the cascade
                log.warning("speech-to-speech is not available (%s); using the cascade", exc)
                await port.emit(
                    Problem(ErrorCode.PROVIDER_FAILED, f"speech-to-speech is not available: {exc}", "warning")
                )
            else:
                port.s2s = S2sTurns(
                    session,
                    voice.speaker,
                    port.emit,
                    self.host.clock,
                    budget_s=self.cfg.s2s.budget_s,
                    chunk_ms=self.cfg.chunk_ms,
                    out_rate=self.tts_rate,
                )
                voice.tap = port.s2s
                self.s2s[conv.id] = port.s2s
                self.host.spawn(port.s2s.warm())
        conv.add_sink(VoiceSink(self, conv, voice, port.s2s))

    async def on_conversation_end(self, conv: ConversationView, reason: str) -> None:
        voice = self.voices.pop(conv.id, None)
        if voice is not None:
            await voice.close()
        s2s = self.s2s.pop(conv.id, None)
        if s2s is not None:
            await s2s.close()

    # wire ------------------------------------------------------------------------------------------
    def routes(self) -> list[Route[Any]]:
        return [
            route(AudioStart, self._on_audio_start),
            route(AudioChunk, self._on_audio_chunk),
            route(SpeechStart, self._on_speech_start),
            route(SpeechEnd, self._on_speech_end),
            route(PlaybackStarted, self._on_playback_started),
            route(PlaybackReport, self._on_playback_report),
        ]

    def _voice(self, peer: Peer, conversation_id: str, ref: Any) -> VoiceConversation:
        conv = self.host.conversation(peer, conversation_id, ref)
        voice = self.voices.get(conv.id)
        if voice is None:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"conversation {conversation_id} is in '{conv.mode}' mode; start it with mode "
                "'push_to_talk' or 'hands_free' to send audio",
                ref=ref,
            )
        return voice

    async def _on_audio_start(self, peer: Peer, msg: AudioStart) -> None:
        voice = self._voice(peer, msg.conversation_id, msg.id)
        voice.configure(msg.sample_rate, msg.format, msg.channels, ref=msg.id)
        conv = self.host.conversation(peer, msg.conversation_id, msg.id)
        tts, params = self.voice_for(conv.npc_ids[0])
        await self.host.send(
            peer,
            AudioReady(
                ref=msg.id,
                conversation_id=msg.conversation_id,
                sample_rate=msg.sample_rate,
                mode=voice.mode,
                tts_sample_rate=tts.sample_rate(params),
            ),
        )

    async def _on_audio_chunk(self, peer: Peer, msg: AudioChunk) -> None:
        self._voice(peer, msg.conversation_id, msg.id).audio(msg.seq, msg.pcm, ref=msg.id)

    async def _on_speech_start(self, peer: Peer, msg: SpeechStart) -> None:
        self._voice(peer, msg.conversation_id, msg.id).key(True, ref=msg.id)

    async def _on_speech_end(self, peer: Peer, msg: SpeechEnd) -> None:
        self._voice(peer, msg.conversation_id, msg.id).key(False, ref=msg.id)

    async def _on_playback_started(self, peer: Peer, msg: PlaybackStarted) -> None:
        voice = self._voice(peer, msg.conversation_id, msg.id)
        voice.reports_playback = True
        reply = voice.speaker.replies.get(msg.turn_id)
        if reply is not None and reply.playback_started is None:
            reply.playback_started = self.host.clock.monotonic()
            reply.started.set()

    async def _on_playback_report(self, peer: Peer, msg: PlaybackReport) -> None:
        reply = self._voice(peer, msg.conversation_id, msg.id).speaker.replies.get(msg.turn_id)
        if reply is None:
            return  # a late report for a turn long gone: nothing to correct
        reply.played_ms = msg.played_ms
        reply.heard_chars = msg.heard_chars
        reply.report.set()
        if msg.finished:
            reply.finished.set()
