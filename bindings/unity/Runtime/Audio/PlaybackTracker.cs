// NPC Runtime client: what was actually played, turned into playback_started / playback_report.
// Plain C#, no UnityEngine.
//
// The runtime keeps in the conversation history and the NPC's memory only the words the player
// heard (docs/voice.md, barge-in), from these reports. Turns are placed on the playback stream's
// sample axis as their npc_audio chunks are buffered; Update(readPosition) compares them with the
// samples the audio thread has taken: the first sample of a turn played -> playback_started; all
// of it played after npc_audio_end -> playback_report {played_ms, finished}; stop_playback ->
// the buffer is flushed and the report says where playback stopped.

using System;
using System.Collections.Generic;
using System.Text;

namespace NpcRuntime.Audio
{
    public sealed class PlaybackTracker
    {
        sealed class Turn
        {
            public string ConversationId;
            public long TurnId;
            public long Start = -1, End = -1;
            public bool EndKnown, StartedSent;
            public readonly List<long> ChunkEnds = new List<long>();
            public readonly List<int> TextEnds = new List<int>();
            public readonly StringBuilder Text = new StringBuilder();
        }

        readonly List<Turn> turns = new List<Turn>();
        readonly List<Dictionary<string, object>> outbox = new List<Dictionary<string, object>>();
        public readonly int SampleRate;
        /// <summary>Also send heard_chars (subtitle characters whose audio played); the runtime then
        /// uses them instead of played_ms. Off by default: played_ms maps to word timings exactly.</summary>
        public bool ReportHeardChars;

        public PlaybackTracker(int sampleRate)
        {
            if (sampleRate <= 0) throw new ArgumentException("sampleRate must be positive");
            SampleRate = sampleRate;
        }

        Turn Find(string conversationId, long turnId, bool create)
        {
            foreach (Turn t in turns)
                if (t.TurnId == turnId && t.ConversationId == conversationId) return t;
            if (!create) return null;
            var n = new Turn { ConversationId = conversationId, TurnId = turnId };
            turns.Add(n);
            return n;
        }

        /// <summary>A chunk of the turn's audio occupies stream samples [start, end); text is its subtitle words.</summary>
        public void OnAudio(string conversationId, long turnId, long start, long end, string text)
        {
            Turn t = Find(conversationId, turnId, true);
            if (t.Start < 0) t.Start = start;
            t.End = Math.Max(t.End, end);
            if (!string.IsNullOrEmpty(text))
            {
                if (t.Text.Length > 0 && !char.IsWhiteSpace(t.Text[t.Text.Length - 1]) && !char.IsWhiteSpace(text[0])) t.Text.Append(' ');
                t.Text.Append(text);
            }
            t.ChunkEnds.Add(end);
            t.TextEnds.Add(t.Text.Length);
        }

        /// <summary>npc_audio_end: the turn's audio is complete (it may end at `end` if the last chunk's tail was flushed later).</summary>
        public void OnAudioEnd(string conversationId, long turnId, long end)
        {
            Turn t = Find(conversationId, turnId, true);
            if (t.Start < 0) t.Start = end; // a turn without audio
            t.End = Math.Max(t.End, end);
            t.EndKnown = true;
        }

        /// <summary>
        /// stop_playback: the buffer was flushed with playback at stream sample `stoppedAt`. Every
        /// unfinished turn of the conversation is reported (played_ms 0 for one never heard).
        /// </summary>
        public void OnStop(string conversationId, long turnId, long stoppedAt)
        {
            Find(conversationId, turnId, true);
            for (int i = turns.Count - 1; i >= 0; i--)
            {
                Turn t = turns[i];
                if (t.ConversationId != conversationId) continue;
                long played = t.Start < 0 ? 0 : Math.Max(0, Math.Min(stoppedAt, Math.Max(t.End, t.Start)) - t.Start);
                if (played > 0 && !t.StartedSent) Emit(Protocol.PlaybackStarted(t.ConversationId, t.TurnId));
                Emit(Report(t, played));
                turns.RemoveAt(i);
            }
        }

        /// <summary>Everything not yet reported is dropped silently (the conversation ended or restarted).</summary>
        public void Forget(string conversationId)
        {
            turns.RemoveAll(t => t.ConversationId == conversationId);
        }

        void Emit(Dictionary<string, object> m)
        {
            outbox.Add(m);
        }

        Dictionary<string, object> Report(Turn t, long playedSamples)
        {
            double ms = Math.Round(playedSamples * 1000.0 / SampleRate, 1);
            int? chars = null;
            if (ReportHeardChars) chars = HeardChars(t, t.Start + playedSamples);
            return Protocol.PlaybackReport(t.ConversationId, t.TurnId, ms, chars, true);
        }

        static int HeardChars(Turn t, long position)
        {
            int chars = 0;
            long chunkStart = t.Start;
            for (int i = 0; i < t.ChunkEnds.Count; i++)
            {
                long end = t.ChunkEnds[i];
                int textStart = i == 0 ? 0 : t.TextEnds[i - 1];
                if (position >= end) { chars = t.TextEnds[i]; chunkStart = end; continue; }
                if (position > chunkStart && end > chunkStart)
                    chars = textStart + (int)((t.TextEnds[i] - textStart) * (position - chunkStart) / (end - chunkStart));
                break;
            }
            return chars;
        }

        /// <summary>The subtitle text of a turn whose audio has been played up to stream sample `position`.</summary>
        public string HeardText(string conversationId, long turnId, long position)
        {
            Turn t = Find(conversationId, turnId, false);
            if (t == null) return "";
            return t.Text.ToString(0, Math.Min(t.Text.Length, HeardChars(t, position)));
        }

        /// <summary>
        /// Compare the turns with the audio thread's read position; returns the messages to send now
        /// (playback_started, playback_report), in order.
        /// </summary>
        public List<Dictionary<string, object>> Update(long readPosition)
        {
            for (int i = 0; i < turns.Count; i++)
            {
                Turn t = turns[i];
                if (!t.StartedSent && t.Start >= 0 && readPosition > t.Start)
                {
                    t.StartedSent = true;
                    Emit(Protocol.PlaybackStarted(t.ConversationId, t.TurnId));
                }
                if (t.EndKnown && readPosition >= t.End)
                {
                    if (!t.StartedSent) Emit(Protocol.PlaybackStarted(t.ConversationId, t.TurnId));
                    Emit(Report(t, t.End - t.Start));
                    turns.RemoveAt(i);
                    i--;
                }
            }
            var o = new List<Dictionary<string, object>>(outbox);
            outbox.Clear();
            return o;
        }

        /// <summary>Turns whose playback has not been reported yet.</summary>
        public int Pending { get { return turns.Count; } }
    }
}
