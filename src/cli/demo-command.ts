/**
 * `pqe2ee demo`: the main job. Starts the reference server on a free loopback port with a
 * temporary SQLite file, creates three users (alice with two devices, bob, carol) whose state is
 * kept in encrypted per-device SQLite files, runs a one-to-one conversation and a group
 * conversation with an add and a remove, prints a readable transcript, then registers an auditor
 * and verifies the server's audit log (docs/audit.md), and exits 0 only if every check passed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KNOWN_CATEGORIES } from '../audit/categories.js';
import { createClient, type E2eeClient } from '../client/index.js';
import { getSuite } from '../crypto/index.js';
import { startServer } from '../server/index.js';
import { openSqliteDatabase } from '../store/node.js';
import { connectAuditService } from './audit/audit-client.js';
import { registerAuditVerifier } from './audit/register.js';
import { formatAuditReport } from './audit/report.js';
import { verifyAuditLog } from './audit/verify.js';

const HELP = `usage: pqe2ee demo [--suite 1|2|3] [--keep]

Runs an end-to-end demo against an embedded server on 127.0.0.1 (free port, temporary SQLite):
three users (alice with two devices, bob, carol), a one-to-one conversation, and a group with an
add and a remove. Prints the transcript with the suite, fingerprints and message sizes, then an
audit verification report of the server's log. Every client checks the pre-key bundles it uses
against the log (key transparency).

  --suite N   cipher suite: 1 post-quantum (default), 2 classic, 3 hybrid
  --keep      keep the temporary directory (server and device databases) and print its path
`;

interface Actor {
  name: string;
  client: E2eeClient;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const size = (n: number) => `${n.toLocaleString('en-US')} B`;

export async function runDemoCommand(args: string[]): Promise<number> {
  let suiteId = 1;
  let keep = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(HELP);
      return 0;
    } else if (arg === '--suite') {
      suiteId = Number(args[++i]);
      if (![1, 2, 3].includes(suiteId)) {
        process.stderr.write('pqe2ee demo: --suite must be 1, 2 or 3\n');
        return 2;
      }
    } else if (arg === '--keep') keep = true;
    else {
      process.stderr.write(`pqe2ee demo: unknown option ${arg}\n${HELP}`);
      return 2;
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'pqe2ee-demo-'));
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    dbPath: join(dir, 'server.sqlite'),
    domain: 'demo.local',
    // Checkpoints at most 100 ms old, so the report below covers the whole conversation.
    audit: { checkpointIntervalMs: 100 },
    log: () => undefined,
  });
  const actors: Actor[] = [];
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const suite = getSuite(suiteId);
    out(`pqe2ee demo — suite ${suiteId} (${suite.params.name})`);
    out(`server: ${server.url} (SQLite ${join(dir, 'server.sqlite')})`);
    out('');

    // Each device keeps its state in its own SQLite file, encrypted at rest with its own key.
    const device = async (name: string, deviceId: string, linkTo?: E2eeClient): Promise<E2eeClient> => {
      const client = createClient({
        server: server.url,
        deviceId,
        suite: suiteId,
        userName: name.split('/')[0] as string,
        database: await openSqliteDatabase(join(dir, `${name.replace('/', '-')}.sqlite`)),
        storage: { key: new Uint8Array(randomBytes(32)) },
        // Key transparency: every bundle must be in the server's audit log.
        ...(server.audit ? { auditLogKey: server.audit.logKey } : {}),
        ...(linkTo ? { linkDevice: (request) => linkTo.approveDevice(request) } : {}),
      });
      client.on('error', (event) => {
        out(`  ! ${name}: ${event.context}: ${event.error.message}`);
      });
      await client.start();
      actors.push({ name, client });
      out(`registered ${name.padEnd(13)} user ${client.address.userId}`);
      return client;
    };

    const alicePhone = await device('alice/phone', 'phone');
    const aliceLaptop = await device('alice/laptop', 'laptop', alicePhone);
    const bob = await device('bob/desktop', 'desktop');
    const carol = await device('carol/tablet', 'tablet');
    const alice = alicePhone.address.userId;

    out('');
    out('— one-to-one —');
    const bobGets = bob.waitFor('one2one-message');
    const laptopCopy = aliceLaptop.waitFor('other-device-message');
    const first = await alicePhone.sendMessage(bob.address.userId, 'Hi Bob, this is post-quantum.');
    out(`alice/phone → bob: invite sent, message queued until bob accepts (${first.pending} device copies pending)`);
    const received = await bobGets;
    out(`bob/desktop  received "${text(received.message.body)}" from alice/${received.message.from.deviceId}`);
    const copy = await laptopCopy;
    out(`alice/laptop received its own copy "${text(copy.message.body)}" (conversation with bob)`);

    const replyAtPhone = alicePhone.waitFor('one2one-message');
    const replyAtLaptop = aliceLaptop.waitFor('one2one-message');
    const reply = await bob.sendMessage(alice, 'Hello Alice, both of your devices get this.');
    out(`bob → alice: ${reply.sent + reply.pending} device copies, ${size(reply.wireBytes)} each on the wire`);
    out(`alice/phone  received "${text((await replyAtPhone).message.body)}"`);
    out(`alice/laptop received "${text((await replyAtLaptop).message.body)}"`);
    const secondAtBob = bob.waitFor('one2one-message');
    const second = await alicePhone.sendMessage(bob.address.userId, 'Sessions are ready: this one went out at once.');
    await secondAtBob;
    out(`alice/phone → bob: ${size(second.wireBytes)} on the wire for a ${'Sessions are ready: this one went out at once.'.length}-byte text`);
    out(`fingerprint alice/phone ↔ bob/desktop: ${await alicePhone.fingerprint(bob.address.userId, 'desktop')}`);
    out(`  (bob sees: ${await bob.fingerprint(alice, 'phone')})`);

    out('');
    out('— group —');
    const bobJoins = bob.waitFor('group-created');
    const laptopJoins = aliceLaptop.waitFor('group-created');
    const { groupId } = await alicePhone.createGroup('demo group', [bob.address.userId]);
    await Promise.all([bobJoins, laptopJoins]);
    out(`alice/phone created group ${groupId} with bob (epoch 0; members: alice/phone, alice/laptop, bob/desktop)`);

    const g1 = bob.waitFor('group-message');
    const g1laptop = aliceLaptop.waitFor('group-message');
    const sent1 = await alicePhone.sendGroupMessage(groupId, 'Welcome to the group, Bob.');
    out(
      `alice/phone → group: "${text((await g1).message.body)}" reached bob and alice/laptop (${text((await g1laptop).message.body) ? 'ok' : ''}), ${size(sent1.wireBytes)}: her first message of the epoch carries her sender key, signed with her identity key`,
    );
    const g1b = bob.waitFor('group-message');
    const sent1b = await alicePhone.sendGroupMessage(groupId, 'Later messages are small.');
    out(`alice/phone → group: "${text((await g1b).message.body)}" ${size(sent1b.wireBytes)}, signed with her sender key of the epoch`);

    const carolJoins = carol.waitFor('group-created');
    const added = await alicePhone.addGroupMembers(groupId, [carol.address.userId]);
    await carolJoins;
    out(`alice/phone added carol → epoch ${added.epoch}; carol joined (she cannot read epoch 0)`);
    const carolGets = carol.waitFor('group-message');
    await waitForEpoch(bob, groupId, added.epoch);
    const sent2 = await bob.sendGroupMessage(groupId, 'Hi Carol!');
    out(`bob/desktop → group: carol received "${text((await carolGets).message.body)}" (${size(sent2.wireBytes)})`);

    const bobLeaves = bob.waitFor('group-left');
    const removed = await alicePhone.removeGroupMembers(groupId, [bob.address.userId]);
    await bobLeaves;
    out(`alice/phone removed bob → epoch ${removed.epoch}; bob's device deleted its group keys`);
    await waitForEpoch(carol, groupId, removed.epoch);
    const carolGets2 = carol.waitFor('group-message');
    const sent3 = await alicePhone.sendGroupMessage(groupId, 'Bob cannot read this.');
    out(`alice/phone → group: carol received "${text((await carolGets2).message.body)}" (${size(sent3.wireBytes)}); bob is not a member of epoch ${removed.epoch}`);

    out('');
    out(
      `suite ${suiteId} sizes: KEM public key ${size(suite.params.kemPublicKeyBytes)}, ciphertext ${size(suite.params.kemCiphertextBytes)}, signature ${size(suite.params.signatureBytes)}`,
    );
    out('the server stored only public keys and ciphertext; every device database is encrypted at rest.');

    out('');
    out('— audit —');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const audited = await auditReport(server.url, server.audit);
    for (const line of audited.text.trimEnd().split('\n')) out(`  ${line}`);
    if (!audited.ok) {
      out('demo finished: the audit log did not verify');
      return 1;
    }
    out('demo finished: OK');
    return 0;
  } finally {
    for (const actor of actors) await actor.client.stop().catch(() => undefined);
    await server.close();
    if (keep) out(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until a device holds the group at `epoch` (its bundle travels through a one-to-one session). */
async function waitForEpoch(client: E2eeClient, groupId: string, epoch: bigint, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await client.groupInfo(groupId).catch(() => undefined);
    if (info && info.epoch >= epoch) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for epoch ${epoch} of group ${groupId}`);
}

/**
 * Registers an auditor entitled to every category (as the operator would, with the admin token)
 * and runs the verifier `pqe2ee audit verify` runs, over HTTP like any outside party.
 */
async function auditReport(url: string, audit: { logKey: string; adminToken: string } | undefined): Promise<{ ok: boolean; text: string }> {
  if (!audit) return { ok: false, text: 'the server keeps no audit log\n' };
  const client = connectAuditService(url);
  const key = await registerAuditVerifier({
    client,
    server: url,
    adminToken: audit.adminToken,
    verifierId: 'demo-auditor',
    entitlement: KNOWN_CATEGORIES,
    logKeyText: audit.logKey,
  });
  try {
    const report = await verifyAuditLog({ client, key });
    return { ok: report.ok, text: formatAuditReport(report) };
  } finally {
    key.kemSecretKey.fill(0);
    key.accessToken.fill(0);
  }
}
