// Formatting helpers: times, names, avatars.

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const longDateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const yearDateFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'long', day: 'numeric' });

function startOfDay(t: number): number {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

const DAY = 24 * 60 * 60 * 1000;

/** A short time for the conversation list: 14:05, Yesterday, Mon, Mar 4. */
export function listTime(ms: number, now = Date.now()): string {
  if (!ms) return '';
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / DAY);
  if (days <= 0) return timeFmt.format(ms);
  if (days === 1) return 'Yesterday';
  if (days < 7) return weekdayFmt.format(ms);
  return dateFmt.format(ms);
}

/** The time under a message bubble. */
export function clockTime(ms: number): string {
  return ms ? timeFmt.format(ms) : '';
}

/** The heading of a day in a conversation: Today, Yesterday, Monday, March 4. */
export function dayLabel(ms: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / DAY);
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days < 7) return longDateFmt.format(ms);
  if (new Date(ms).getFullYear() === new Date(now).getFullYear()) return longDateFmt.format(ms);
  return yearDateFmt.format(ms);
}

export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** Two letters for an avatar: "alice" → "AL", "Weekend trip" → "WT". */
export function initials(name: string): string {
  const words = name.replace(/^[gp]:/, '').split(/[\s._@-]+/).filter(Boolean);
  if (words.length >= 2) return (words[0][0] + words[1][0]).toUpperCase();
  return (words[0]?.[0] ?? '?').toUpperCase();
}

const AVATAR_COLORS = [
  '#4f7cff', '#e0637a', '#2fa37c', '#d48a1f', '#8a63d2',
  '#1f9bb3', '#c2577c', '#5c8a3a', '#c9672d', '#5b6ee1',
];

export function avatarColor(seed: string): string {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return AVATAR_COLORS[(h >>> 0) % AVATAR_COLORS.length];
}

/** User names the relay accepts (proto.ValidName). */
export const NAME_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

/** A size for people: 812 B, 4.2 KB, 13 MB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
