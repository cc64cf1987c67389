// Headless Chromium from Debian's package, driven by playwright-core.
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'artifacts');

/**
 * Whether the browser suites can run. With PARLEY_REQUIRE_BROWSER=1 (set by
 * ./build.sh test where Chromium is installed) a missing browser is an error
 * that fails the suite instead of a skip.
 */
export function haveChromium() {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.PARLEY_REQUIRE_BROWSER === '1') {
    throw new Error(`PARLEY_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}: the browser suites cannot run`);
  }
  return false;
}

export async function launch({ args = [] } = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', ...args],
  });
}

/** Collects a page's console errors so a failing test can show them. */
export function watch(page, name) {
  const lines = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') lines.push(`[${name}] ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => lines.push(`[${name}] pageerror: ${e.message}`));
  return lines;
}

// waitForAsync polls an async page function until it returns a truthy value
// and returns that value: waitForFunction takes a returned promise for a
// truthy answer and does not wait for what it resolves to.
export async function waitForAsync(p, fn, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await p.evaluate(fn);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waitForAsync: still ${JSON.stringify(v)} after ${timeout} ms: ${fn}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
