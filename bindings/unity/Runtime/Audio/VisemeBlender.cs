// NPC Runtime client: viseme keys -> smoothed 0..1 weights, one per blendshape slot. Plain C#; the
// Unity NpcLipSync component multiplies them into SkinnedMeshRenderer blendshape weights.

using System;

namespace NpcRuntime.Audio
{
    public sealed class VisemeBlender
    {
        readonly string[] slots;
        readonly float[] weights;
        /// <summary>How fast a weight follows its target, per second (higher: snappier, 0: frozen).</summary>
        public float Speed;

        /// <param name="slotVisemes">the viseme each slot shows ("aa", "PP"...), or "open" for a
        /// mouth_open value (runtimes whose voice gives no phonemes)</param>
        public VisemeBlender(string[] slotVisemes, float speed = 25f)
        {
            if (slotVisemes == null) throw new ArgumentNullException("slotVisemes");
            slots = (string[])slotVisemes.Clone();
            weights = new float[slots.Length];
            Speed = speed;
        }

        public float[] Weights { get { return weights; } }

        /// <summary>The weight each slot aims for in this frame.</summary>
        public float Target(int slot, VisemeFrame f)
        {
            if (f.Idle) return 0f;
            string s = slots[slot];
            if (s == "open") return f.Viseme == null ? f.Value : (f.Viseme == "sil" ? 0f : 0.6f);
            return s == f.Viseme ? f.Value : 0f;
        }

        /// <summary>Move every weight toward its target over dt seconds; returns the weights.</summary>
        public float[] Step(VisemeFrame f, float dt)
        {
            float k = Speed <= 0 ? 0f : (float)(1.0 - Math.Exp(-Speed * Math.Max(0f, dt)));
            for (int i = 0; i < slots.Length; i++) weights[i] += (Target(i, f) - weights[i]) * k;
            return weights;
        }
    }
}
