// Icons of the management panels (calls, settings, profile), drawn like
// dom.ts's: 24×24, stroke currentColor. SVG rather than emoji, which many
// systems (headless Linux among them) have no font for.
const PATHS: Record<string, string> = {
  phone: '<path d="M6.6 3.8l2.6-.3 1.6 4-2 1.4a11 11 0 0 0 5.4 5.4l1.4-2 4 1.6-.3 2.6a2 2 0 0 1-2.1 1.7C10.9 17.8 6.2 13.1 4.9 6a2 2 0 0 1 1.7-2.2z"/>',
  video: '<rect x="3" y="6.5" width="12.5" height="11" rx="2"/><path d="M15.5 10.5l5-3v9l-5-3z"/>',
  pin: '<path d="M9 4.5h6l-1 5 3 3v1.5H7v-1.5l3-3z"/><path d="M12 14v6"/>',
  bellOff: '<path d="M6.5 16.5h11l-1.5-2V10a4 4 0 0 0-6.8-2.9"/><path d="M8 10v4.5l-1.5 2"/><path d="M10.5 19a1.5 1.5 0 0 0 3 0"/><path d="M4 4l16 16"/>',
  pencil: '<path d="M5 19l1-4L15.5 5.5a2 2 0 0 1 3 3L9 18z"/><path d="M13.5 7.5l3 3"/>',
  hangup: '<path d="M3.5 14.5c4.7-4.2 12.3-4.2 17 0l-1.8 2.3-3.4-1.2-.4-2.4a10 10 0 0 0-5.8 0l-.4 2.4-3.4 1.2z"/>',
};

/** svgIcon returns one of the icons above. */
export function svgIcon(name: keyof typeof PATHS, cls = 'icon'): SVGSVGElement {
  const t = document.createElement('template');
  t.innerHTML =
    `<svg class="${cls}" viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" ` +
    `stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${PATHS[name] ?? ''}</svg>`;
  return t.content.firstElementChild as SVGSVGElement;
}
