// NPC Runtime client: the playback side of a voice conversation, without UnityEngine.
//
// npc_audio chunks (main thread) are resampled to the engine's output rate and written into an
// AudioRingBuffer; the audio thread takes samples out (Unity: OnAudioFilterRead -> Fill). Lip-sync
// keys go on a VisemeTimeline and playback on a PlaybackTracker, both on the buffer's sample axis,
// so the mouth and the reports follow what was actually played. stop_playback flushes the buffer
// and reports where playback stopped.

using System;
using System.Collections.Generic;

namespace NpcRuntime.Audio
{
    public sealed class NpcVoicePlayer
    {
        public readonly int OutputRate;
        public readonly AudioRingBuffer Buffer;
        public readonly PlaybackTracker Tracker;
        public readonly VisemeTimeline Visemes;
        /// <summary>Output volume applied in Fill.</summary>
        public float Gain = 1f;

        Resampler resampler;
        string turnConversation;
        long turnId = -1;
        long turnStart;      // stream sample where the current turn's audio begins
        long turnSourceSamples; // samples of the turn received so far, at its own rate
        int turnRate;
        float[] scratch;
        readonly HashSet<string> stopped = new HashSet<string>(); // turns cut by stop_playback: late chunks are dropped

        /// <summary>The first sample of a turn went into the buffer (conversation id, turn id).</summary>
        public event Action<string, long> TurnAudioBuffered;

        public NpcVoicePlayer(int outputRate, int maxBufferSeconds = 120)
        {
            OutputRate = outputRate;
            Buffer = new AudioRingBuffer(outputRate, outputRate * maxBufferSeconds);
            Tracker = new PlaybackTracker(outputRate);
            Visemes = new VisemeTimeline(outputRate);
        }

        /// <summary>The turn whose audio is being buffered (-1: none).</summary>
        public long CurrentTurn { get { return turnId; } }

        public void OnNpcAudio(NpcAudio a)
        {
            if (a.SampleRate <= 0) throw new ArgumentException("npc_audio without a sample_rate");
            if (stopped.Contains(a.ConversationId + "/" + a.TurnId)) return;
            float[] src = Pcm16.ToFloats(a.Pcm);
            if (a.TurnId != turnId || a.ConversationId != turnConversation) BeginTurn(a.ConversationId, a.TurnId, (int)a.SampleRate);
            else if (a.SampleRate != turnRate) throw new ArgumentException("npc_audio changed sample_rate within a turn");
            long chunkStart = turnStart + ToOutput(turnSourceSamples);
            turnSourceSamples += src.Length;
            long chunkEnd = turnStart + ToOutput(turnSourceSamples);
            bool first = Buffer.WritePosition == turnStart;
            float[] o = resampler.Process(src, 0, src.Length);
            Buffer.Write(o, 0, o.Length);
            Visemes.AddChunk(chunkStart, a.Visemes, a.VisemeKind);
            Tracker.OnAudio(a.ConversationId, a.TurnId, chunkStart, chunkEnd, a.Text);
            if (first && o.Length > 0)
            {
                var h = TurnAudioBuffered;
                if (h != null) h(a.ConversationId, a.TurnId);
            }
        }

        long ToOutput(long sourceSamples)
        {
            return (long)Math.Round(sourceSamples * (double)OutputRate / turnRate);
        }

        void BeginTurn(string conversationId, long id, int rate)
        {
            EndTurn();
            turnConversation = conversationId;
            turnId = id;
            turnRate = rate;
            turnStart = Buffer.WritePosition;
            turnSourceSamples = 0;
            if (resampler == null || resampler.InRate != rate) resampler = new Resampler(rate, OutputRate);
            else resampler.Reset();
        }

        void EndTurn()
        {
            if (turnId < 0) return;
            float[] tail = resampler.Flush();
            Buffer.Write(tail, 0, tail.Length);
            turnId = -1;
        }

        public void OnNpcAudioEnd(NpcAudioEnd e)
        {
            if (stopped.Contains(e.ConversationId + "/" + e.TurnId)) return;
            if (e.TurnId == turnId && e.ConversationId == turnConversation) EndTurn();
            Tracker.OnAudioEnd(e.ConversationId, e.TurnId, Buffer.WritePosition);
        }

        /// <summary>stop_playback: flush everything buffered; the report goes out with the next Update.</summary>
        public void OnStopPlayback(StopPlayback s)
        {
            if (!stopped.Add(s.ConversationId + "/" + s.TurnId)) return; // a repeated stop: already reported
            if (stopped.Count > 256) stopped.Clear();
            long at = Buffer.Clear();
            if (resampler != null) resampler.Reset();
            turnId = -1;
            Visemes.StopAt(at);
            Tracker.OnStop(s.ConversationId, s.TurnId, at);
        }

        /// <summary>Forget a conversation's audio (it ended or was restarted after a reconnect).</summary>
        public void Forget(string conversationId)
        {
            long at = Buffer.Clear();
            if (resampler != null) resampler.Reset();
            turnId = -1;
            Visemes.StopAt(at);
            Tracker.Forget(conversationId);
        }

        /// <summary>
        /// The conversation moved to another worker (warning conversation_moved): its unfinished turn
        /// runs once more with the same ids, so drop what is buffered and tracked of it, and forget
        /// that any of its turns was stopped (the new attempt's audio must play).
        /// </summary>
        public void ResetConversation(string conversationId)
        {
            Forget(conversationId);
            stopped.RemoveWhere(k => k.StartsWith(conversationId + "/", StringComparison.Ordinal));
        }

        /// <summary>The audio thread: fill an interleaved block (Unity's OnAudioFilterRead). Returns real frames.</summary>
        public int Fill(float[] data, int channels)
        {
            return Buffer.ReadInterleaved(data, channels, ref scratch, Gain);
        }

        /// <summary>The main thread, every frame: playback_started / playback_report messages to send now.</summary>
        public List<Dictionary<string, object>> Update()
        {
            long read = Buffer.ReadPosition;
            Visemes.Prune(read);
            return Tracker.Update(read);
        }

        /// <summary>The lip-sync key being heard; outputLatencySamples: samples between Fill and the speaker.</summary>
        public VisemeFrame CurrentViseme(long outputLatencySamples = 0)
        {
            return Visemes.At(Buffer.ReadPosition - outputLatencySamples);
        }

        public bool IsPlaying { get { return Buffer.Count > 0; } }
    }
}
