// Launches the browser engine the e2e suite runs in, with a persistent profile (OPFS kept on
// disk across reloads), behind one small interface so that the tests do not care which driver
// is underneath:
//
//   chromium  Debian's /usr/bin/chromium driven by playwright-core (CDP)
//   firefox   Debian's firefox-esr driven by puppeteer-core over WebDriver BiDi (Playwright
//             can only drive its own patched Firefox builds, which cannot be downloaded here)
//
// Select with CAIRN_BROWSER (default chromium); override the binary with CHROMIUM / FIREFOX.
// The returned pages expose the methods the tests use, with the same single-argument
// signatures in both drivers: goto, evaluate(fn, arg), waitForFunction(fn), reload, close,
// on('console' | 'pageerror').
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export const ENGINE = process.env.CAIRN_BROWSER || 'chromium';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** Pids of the descendants of `pid` (Linux /proc). */
function descendants(pid) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // The parent pid is the 2nd field after the parenthesised command name.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // The process ended while we looked.
    }
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    for (const c of children.get(p) || []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return [];
  }
}

/**
 * Starts the browser with a persistent profile in `profileDir`. Returns
 * { engine, version, newPage(), close(), crashSupported, crash(page) }.
 */
export async function launch(profileDir) {
  if (ENGINE === 'chromium') {
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(profileDir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
    });
    return {
      engine: 'chromium',
      version: ctx.browser() ? ctx.browser().version() : execFileSync(process.env.CHROMIUM || '/usr/bin/chromium', ['--version']).toString().trim(),
      ctx,
      newPage: () => ctx.newPage(),
      close: () => ctx.close(),
      crashSupported: true,
      /** Kills the page's renderer (and its worker) with CDP Page.crash. */
      async prepareCrash(page) {
        // Attach CDP before the write stream starts: attaching to a busy renderer can stall.
        const cdp = await ctx.newCDPSession(page);
        return async () => {
          const crashed = page.waitForEvent('crash', { timeout: 15000 });
          // The renderer dies before it can answer: do not await the command itself.
          cdp.send('Page.crash').catch(() => {});
          await crashed;
          await page.close().catch(() => {});
        };
      },
      cdp: (page) => ctx.newCDPSession(page),
    };
  }
  if (ENGINE === 'firefox') {
    const puppeteer = (await import('puppeteer-core')).default;
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
      headless: true,
      userDataDir: profileDir,
      protocolTimeout: 120000,
      extraPrefsFirefox: {
        // Keep the test quiet and deterministic: no telemetry, no updates, no first-run UI.
        'app.update.enabled': false,
        'datareporting.policy.dataSubmissionEnabled': false,
        'toolkit.telemetry.enabled': false,
        'browser.shell.checkDefaultBrowser': false,
        // navigator.storage.persist() asks the user; answer "allow" as a test harness would.
        'dom.storageManager.prompt.testing': true,
        'dom.storageManager.prompt.testing.allow': true,
      },
    });
    const proc = browser.process();
    return {
      engine: 'firefox',
      version: await browser.version(),
      browser,
      newPage: () => browser.newPage(),
      close: () => browser.close(),
      crashSupported: !!proc,
      /**
       * Firefox has no crash command over WebDriver BiDi, so the page is crashed the way a
       * real tab crash happens: SIGKILL of the content processes that host web pages (a
       * dedicated worker lives in its page's content process). Only this test's page is open
       * at that moment besides the initial about:blank.
       */
      async prepareCrash(page) {
        return async () => {
          const victims = descendants(proc.pid).filter((p) => {
            // Processes started by Firefox's fork server show their argv as one string.
            const args = cmdline(p).join(' ').split(' ');
            return args.includes('-contentproc') && args[args.length - 1] === 'tab';
          });
          if (victims.length === 0) throw new Error('no Firefox content process found to kill');
          for (const p of victims) {
            try {
              process.kill(p, 'SIGKILL');
            } catch {
              // Already gone.
            }
          }
          // Wait until they are gone.
          const t0 = Date.now();
          while (victims.some((p) => { try { readlinkSync(`/proc/${p}/exe`); return true; } catch { return false; } }) && Date.now() - t0 < 10000) {
            await new Promise((r) => setTimeout(r, 50));
          }
          await page.close().catch(() => {});
        };
      },
      cdp: null,
    };
  }
  throw new Error(`CAIRN_BROWSER=${ENGINE}: supported engines are chromium and firefox`);
}
