// NPC Runtime client: lip-sync keys on the audio clock. Plain C#, no UnityEngine.
//
// Each npc_audio chunk carries keys [t_ms from the chunk's start, value]: a viseme name
// (viseme_kind "viseme") or a 0..1 mouth opening ("mouth_open"). They are placed on the playback
// stream's sample axis (the ring buffer's write positions) when the chunk is buffered, and read
// back at the sample being played, so the mouth follows what is heard, not what has arrived.

using System;
using System.Collections.Generic;

namespace NpcRuntime.Audio
{
    public struct VisemeFrame
    {
        /// <summary>One of VisemeTimeline.Visemes ("sil" when silent), or null for a mouth_open key.</summary>
        public string Viseme;
        /// <summary>Mouth opening 0..1: the key's value for mouth_open, 1 for a viseme other than sil, 0 for sil.</summary>
        public float Value;
        /// <summary>True when no key has been reached yet (nothing is being said).</summary>
        public bool Idle;

        public override string ToString() { return Idle ? "idle" : (Viseme ?? "open") + ":" + Value.ToString("0.00"); }
    }

    public sealed class VisemeTimeline
    {
        /// <summary>The viseme names of docs/protocol.md (npc_audio), in the protocol's order.</summary>
        public static readonly string[] Visemes = { "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou" };

        struct Key
        {
            public long Sample;
            public string Viseme;
            public float Value;
        }

        readonly object gate = new object();
        readonly List<Key> keys = new List<Key>();
        public readonly int SampleRate;

        public VisemeTimeline(int sampleRate)
        {
            if (sampleRate <= 0) throw new ArgumentException("sampleRate must be positive");
            SampleRate = sampleRate;
        }

        public int Count { get { lock (gate) return keys.Count; } }

        /// <summary>
        /// Place a chunk's keys. chunkStart: the stream sample where the chunk's audio begins.
        /// Malformed keys (not a [number, name|number] pair, unknown viseme names) are skipped and counted.
        /// </summary>
        public int AddChunk(long chunkStart, IList<object> visemes, string kind)
        {
            int bad = 0;
            if (visemes == null) return 0;
            bool open = kind == "mouth_open";
            lock (gate)
            {
                foreach (object item in visemes)
                {
                    var pair = item as IList<object>;
                    if (pair == null || pair.Count < 2 || !(pair[0] is double || pair[0] is long)) { bad++; continue; }
                    double ms = Convert.ToDouble(pair[0]);
                    var k = new Key { Sample = chunkStart + (long)Math.Round(ms * SampleRate / 1000.0) };
                    if (open)
                    {
                        if (!(pair[1] is double || pair[1] is long)) { bad++; continue; }
                        k.Value = (float)Math.Max(0.0, Math.Min(1.0, Convert.ToDouble(pair[1])));
                    }
                    else
                    {
                        string name = pair[1] as string;
                        if (name == null || Array.IndexOf(Visemes, name) < 0) { bad++; continue; }
                        k.Viseme = name;
                        k.Value = name == "sil" ? 0f : 1f;
                    }
                    Insert(k);
                }
            }
            return bad;
        }

        void Insert(Key k)
        {
            int i = keys.Count;
            while (i > 0 && keys[i - 1].Sample > k.Sample) i--;
            keys.Insert(i, k);
        }

        /// <summary>The key in force at stream sample `sample` (the last one at or before it).</summary>
        public VisemeFrame At(long sample)
        {
            lock (gate)
            {
                int lo = 0, hi = keys.Count - 1, found = -1;
                while (lo <= hi)
                {
                    int mid = (lo + hi) / 2;
                    if (keys[mid].Sample <= sample) { found = mid; lo = mid + 1; }
                    else hi = mid - 1;
                }
                if (found < 0) return new VisemeFrame { Viseme = "sil", Value = 0f, Idle = true };
                Key k = keys[found];
                return new VisemeFrame { Viseme = k.Viseme, Value = k.Value };
            }
        }

        /// <summary>Playback stopped at `sample` (stop_playback): drop the keys after it, close the mouth.</summary>
        public void StopAt(long sample)
        {
            lock (gate)
            {
                keys.RemoveAll(k => k.Sample > sample);
                Insert(new Key { Sample = sample, Viseme = "sil", Value = 0f });
            }
        }

        /// <summary>Forget keys that can no longer be reached (all but the last one at or before `sample`).</summary>
        public void Prune(long sample)
        {
            lock (gate)
            {
                int last = -1;
                for (int i = 0; i < keys.Count && keys[i].Sample <= sample; i++) last = i;
                if (last > 0) keys.RemoveRange(0, last);
            }
        }
    }
}
