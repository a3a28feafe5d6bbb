// The audible and haptic signal for critical alerts. Browsers only let a page
// make sound after a user gesture, so the AudioContext is created on the login
// click (or the first tap after a reload with a stored token).
let ctx = null;

export function unlockAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!ctx) ctx = new Ctx();
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  } catch {
    ctx = null; // no audio on this device: the banner and vibration remain
  }
}

// Unlock on the first tap anywhere, for sessions restored from localStorage.
export function unlockOnFirstGesture() {
  const once = () => {
    unlockAudio();
    window.removeEventListener('pointerdown', once, true);
    window.removeEventListener('keydown', once, true);
  };
  window.addEventListener('pointerdown', once, true);
  window.addEventListener('keydown', once, true);
}

// Three rising beeps, twice: distinct from phone notification sounds.
export function beep() {
  if (!ctx || ctx.state !== 'running') return;
  try {
    const start = ctx.currentTime + 0.05;
    const notes = [880, 1046, 1318];
    for (let round = 0; round < 2; round += 1) {
      notes.forEach((freq, i) => {
        const t0 = start + round * 0.9 + i * 0.2;
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = 'square';
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, t0);
        gain.gain.exponentialRampToValueAtTime(0.25, t0 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.16);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t0);
        osc.stop(t0 + 0.18);
      });
    }
  } catch {
    // never let sound break the alert flow
  }
}

export function vibrate() {
  try {
    if (navigator.vibrate) navigator.vibrate([300, 150, 300, 150, 600]);
  } catch {
    // not supported
  }
}
