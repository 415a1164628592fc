// Starts Debian's Chromium through playwright-core for the browser tests, or skips (exit 77).
import { existsSync } from 'node:fs';

// Resolves to a headless browser with no sandbox and no background networking. Exits the process
// with 77 (CTest's skip code here) when playwright-core or Chromium is not installed.
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    console.log('skip: playwright-core is not installed (scripts/setup installs it)');
    process.exit(77);
  }
  if (!existsSync(executablePath)) {
    console.log(`skip: no Chromium at ${executablePath} (scripts/setup installs Debian's chromium)`);
    process.exit(77);
  }
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-background-networking'] });
}
