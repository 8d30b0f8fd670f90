// converse_chat.mjs: drives Converse.js, as served by parleyd, in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core). Each user has its own browser context (own storage):
//   A logs in through the login form over WebSocket only (?transport=websocket),
//   B logs in through the login form over BOSH only (?transport=bosh);
//   each must see the other online in the roster (the caller pre-creates the mutual subscription),
//   A opens the chat with B and sends a message, B sees it and replies, A sees the reply;
//   a guest follows the page's "Join as guest" link and must be bound to a JID on the anonymous host.
// The transports are checked on the wire (A opened a WebSocket to /xmpp-websocket and made no /http-bind
// request; B the reverse), and any Content-Security-Policy violation or uncaught page error fails the run.
// Screenshots: chat-a.png, chat-b.png, anonymous.png (and failure-*.png) in the artifacts directory.
//
// Environment: PARLEY_URL (e.g. http://127.0.0.1:8080/), USER_A, PASS_A, USER_B, PASS_B (bare JIDs and
// passwords), ANON_HOST (default anon.localhost), ARTIFACTS (default ../artifacts), CHROMIUM
// (default /usr/bin/chromium). Exit status 0 on success, 1 with a message on failure; the whole run is
// bounded by a watchdog (RUN_TIMEOUT_MS, default 85000) and every wait by WAIT_MS (default 20000).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const env = process.env;
const here = dirname(fileURLToPath(import.meta.url));
const base = env.PARLEY_URL;
const A = { jid: env.USER_A, password: env.PASS_A, name: 'A' };
const B = { jid: env.USER_B, password: env.PASS_B, name: 'B' };
const anonHost = env.ANON_HOST || 'anon.localhost';
const artifacts = resolve(env.ARTIFACTS || join(here, '..', 'artifacts'));
const WAIT = Number(env.WAIT_MS || 20000);
const RUN_TIMEOUT = Number(env.RUN_TIMEOUT_MS || 85000);

if (!base || !A.jid || !A.password || !B.jid || !B.password) {
	console.error('converse_chat: set PARLEY_URL, USER_A, PASS_A, USER_B, PASS_B');
	process.exit(1);
}
mkdirSync(artifacts, { recursive: true });

const watchdog = setTimeout(() => {
	console.error(`converse_chat: FAILED: the run took longer than ${RUN_TIMEOUT} ms`);
	process.exit(1);
}, RUN_TIMEOUT);

const problemCount = new Map(); // CSP violations, page errors and HTTP errors from every page, with counts
const problems = {
	push: (p) => problemCount.set(p, (problemCount.get(p) || 0) + 1),
	get length() {
		return problemCount.size;
	},
	join: (sep) => [...problemCount].map(([p, n]) => (n > 1 ? `${p} (${n} times)` : p)).join(sep),
};
const pageLog = []; // console errors and failed requests: printed when the run fails
const log = (...a) => console.log(`[${(performance.now() / 1000).toFixed(1)}s]`, ...a);

function pageURL(query) {
	const u = new URL(base);
	for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
	return u.href;
}

// A page in its own context, recording its transports, console errors and CSP violations.
async function openPage(browser, who) {
	const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
	const page = await context.newPage();
	page.setDefaultTimeout(WAIT);
	const rec = { page, context, who, websockets: [], bosh: 0, wsFrames: [], boshBodies: [] };
	page.on('websocket', (ws) => {
		rec.websockets.push(ws.url());
		ws.on('framereceived', (f) => typeof f.payload === 'string' && rec.wsFrames.push(f.payload));
	});
	page.on('response', async (r) => {
		if (!new URL(r.url()).pathname.endsWith('/http-bind')) return;
		rec.bosh++;
		try {
			rec.boshBodies.push(await r.text());
		} catch {
			/* the page went away */
		}
	});
	page.on('console', (m) => {
		const t = m.text();
		// Converse's login footer shows sponsor logos from conversejs.org: blocked by the CSP, as wanted
		if (/^Loading the image 'https:\/\/conversejs\.org\//.test(t)) return;
		if (/Content Security Policy|Refused to (load|execute|apply|connect|compile)/i.test(t))
			problems.push(`${who}: CSP: ${t}`);
		else if (m.type() === 'error') pageLog.push(`${who} console error: ${t.slice(0, 300)}`);
	});
	page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
	page.on('requestfailed', (r) => pageLog.push(`${who} request failed: ${r.url()} ${r.failure()?.errorText}`));
	page.on('response', (r) => r.status() >= 400 && problems.push(`${who}: HTTP ${r.status()} for ${r.url()}`));
	return rec;
}

async function login(rec, user, transport) {
	const { page } = rec;
	log(`${rec.who}: login as ${user.jid} over ${transport}`);
	await page.goto(pageURL({ transport }), { waitUntil: 'load' });
	await page.locator('#converse-login-jid').fill(user.jid);
	await page.locator('#converse-login-password').fill(user.password);
	await page.locator('form#converse-login button[type=submit]').click();
	// logged in: the roster (contacts list) replaces the login form; failed: the form is back with an error
	const roster = page.locator('converse-roster');
	const form = page.locator('#converse-login-jid');
	const error = page.locator('form#converse-login .conn-feedback.alert-danger');
	const deadline = Date.now() + WAIT;
	for (;;) {
		if (await roster.isVisible()) break;
		if ((await form.isVisible()) && (await error.isVisible()))
			throw new Error(`${rec.who}: login over ${transport} failed: ${await error.innerText()}`);
		if (Date.now() > deadline) throw new Error(`${rec.who}: not logged in over ${transport} after ${WAIT} ms`);
		await page.waitForTimeout(200);
	}
	log(`${rec.who}: logged in`);
}

// the contact's entry in the roster (a contact can be listed in more than one group: the first one)
function contact(page, jid) {
	return page.locator(`a.open-chat[data-jid="${jid}"]`).first();
}

async function sendMessage(page, peer, text) {
	const textarea = page.locator(`converse-chat[jid="${peer}"] textarea.chat-textarea`);
	await textarea.waitFor({ state: 'visible' });
	await textarea.fill(text);
	await textarea.press('Enter');
}

async function expectMessage(page, peer, text) {
	await page
		.locator(`converse-chat[jid="${peer}"] .chat-msg__text`, { hasText: text })
		.first()
		.waitFor({ state: 'visible' });
}

let browser;
const recs = [];
async function run() {
	browser = await chromium.launch({
		executablePath: env.CHROMIUM || '/usr/bin/chromium',
		timeout: WAIT,
		args: [
			'--headless',
			'--no-sandbox',
			'--disable-gpu',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--use-fake-ui-for-media-stream',
			'--use-fake-device-for-media-stream',
		],
	});
	const a = await openPage(browser, 'A');
	const b = await openPage(browser, 'B');
	recs.push(a, b);
	await Promise.all([login(a, A, 'websocket'), login(b, B, 'bosh')]);

	// presence: each sees the other online (subscription both ways was set up before)
	await contact(a.page, B.jid).locator('.contact-name--online').waitFor({ state: 'visible' });
	await contact(b.page, A.jid).locator('.contact-name--online').waitFor({ state: 'visible' });
	log('presence: A sees B online, B sees A online');

	const hello = `hello from A over WebSocket ${Date.now()}`;
	await contact(a.page, B.jid).click();
	await sendMessage(a.page, B.jid, hello);
	await expectMessage(a.page, B.jid, hello); // A's own copy in its chat
	// B: the message shows up as unread on A's roster entry (or in an already open chat); open it
	await b.page
		.locator(`a.open-chat[data-jid="${A.jid}"] .msgs-indicator, converse-chat[jid="${A.jid}"] .chat-msg__text`)
		.first()
		.waitFor({ state: 'visible' });
	await contact(b.page, A.jid).click();
	await expectMessage(b.page, A.jid, hello);
	log('B received the message from A');

	const reply = `reply from B over BOSH ${Date.now()}`;
	await sendMessage(b.page, A.jid, reply);
	await expectMessage(a.page, B.jid, reply);
	log('A received the reply from B');
	await a.page.screenshot({ path: join(artifacts, 'chat-a.png') });
	await b.page.screenshot({ path: join(artifacts, 'chat-b.png') });

	// transports, as seen on the wire
	const isWS = (u) => new URL(u).pathname.endsWith('/xmpp-websocket');
	if (!a.websockets.some(isWS) || a.bosh !== 0)
		throw new Error(`A should use WebSocket only: websockets ${JSON.stringify(a.websockets)}, ` +
			`${a.bosh} BOSH requests`);
	if (b.websockets.length !== 0 || b.bosh < 3)
		throw new Error(`B should use BOSH only: websockets ${JSON.stringify(b.websockets)}, ` +
			`${b.bosh} BOSH requests`);
	log(`transports: A ${a.websockets.length} WebSocket(s), B ${b.bosh} BOSH responses`);

	// guest: the link on the login page, then a JID on the anonymous host
	const g = await openPage(browser, 'guest');
	recs.push(g);
	await g.page.goto(pageURL({}), { waitUntil: 'load' });
	await g.page.locator('#converse-login-jid').waitFor({ state: 'visible' }); // the normal login page
	await g.page.locator('#parley-guest').click();
	await g.page.waitForURL((u) => u.searchParams.get('anon') === '1');
	await g.page.locator('converse-user-profile').waitFor({ state: 'visible' }); // logged in (no roster)
	const bound = new RegExp(`<jid>([^<@]+@${anonHost.replace(/\./g, '\\.')}/[^<]+)</jid>`);
	const deadline = Date.now() + WAIT;
	let jid = null;
	while (!jid && Date.now() < deadline) {
		for (const t of [...g.wsFrames, ...g.boshBodies]) jid = jid || t.match(bound)?.[1];
		if (!jid) await g.page.waitForTimeout(100);
	}
	if (!jid) throw new Error(`the guest was not bound to a JID on ${anonHost}`);
	log(`guest bound to ${jid}`);
	// the profile shows the guest's name: the node of the JID the server assigned
	await g.page.locator('converse-user-profile', { hasText: jid.split('@')[0].slice(0, 8) }).waitFor();
	await g.page.screenshot({ path: join(artifacts, 'anonymous.png') });

	if (problems.length) throw new Error('problems in the pages:\n  ' + problems.join('\n  '));
}

let failed = false;
try {
	await run();
	console.log('converse_chat: OK');
} catch (e) {
	failed = true;
	console.error(`converse_chat: FAILED: ${e.message}`);
	if (problems.length && !e.message.startsWith('problems')) console.error('  ' + problems.join('\n  '));
	if (pageLog.length) console.error('page log (last 40):\n  ' + pageLog.slice(-40).join('\n  '));
	for (const r of recs) {
		await r.page
			.screenshot({ path: join(artifacts, `failure-${r.who}.png`), timeout: 5000 })
			.catch(() => {});
	}
} finally {
	await browser?.close().catch(() => {});
	clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
