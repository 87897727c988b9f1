/**
 * Challenges and bearer tokens, kept in memory only: a restart invalidates every token (clients
 * authenticate again) and every outstanding challenge. Tokens are stored as SHA-256 digests.
 */
import { createHash, randomBytes } from 'node:crypto';

export const CHALLENGE_BYTES = 32;
export const TOKEN_BYTES = 32;

export interface DeviceIdentity {
  userId: string;
  deviceId: string;
}

interface ChallengeEntry {
  challenge: Uint8Array;
  expiresAt: number;
}

interface TokenEntry extends DeviceIdentity {
  expiresAt: number;
}

const digest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64');

export interface AuthOptions {
  challengeTtlMs: number;
  tokenTtlMs: number;
  /** Outstanding challenges kept at most (oldest dropped first). */
  maxChallenges: number;
}

/** Live tokens per device: signing in again retires the oldest beyond this. */
export const MAX_TOKENS_PER_DEVICE = 8;
/** How often expired entries are swept (not on every call: the maps can be large). */
const PRUNE_INTERVAL_MS = 10_000;

export class AuthState {
  private readonly challenges = new Map<string, ChallengeEntry>();
  private readonly tokens = new Map<string, TokenEntry>();
  /** Token digests per device, oldest first. */
  private readonly tokensByDevice = new Map<string, string[]>();
  private lastPrune = 0;

  constructor(private readonly options: AuthOptions) {}

  issueChallenge(now: number): { challengeId: string; challenge: Uint8Array } {
    this.prune(now);
    while (this.challenges.size >= this.options.maxChallenges) {
      const oldest = this.challenges.keys().next().value as string;
      this.challenges.delete(oldest);
    }
    const challengeId = randomBytes(16).toString('hex');
    const challenge = new Uint8Array(randomBytes(CHALLENGE_BYTES));
    this.challenges.set(challengeId, { challenge, expiresAt: now + this.options.challengeTtlMs });
    return { challengeId, challenge: Uint8Array.from(challenge) };
  }

  /** Removes and returns a challenge: each is usable once, whatever the outcome. */
  takeChallenge(challengeId: string, now: number): Uint8Array | undefined {
    const entry = this.challenges.get(challengeId);
    if (!entry) return undefined;
    this.challenges.delete(challengeId);
    return entry.expiresAt > now ? entry.challenge : undefined;
  }

  issueToken(identity: DeviceIdentity, now: number): { token: string; expiresAt: number } {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const expiresAt = now + this.options.tokenTtlMs;
    const key = digest(token);
    this.tokens.set(key, { userId: identity.userId, deviceId: identity.deviceId, expiresAt });
    const device = `${identity.userId}\u0000${identity.deviceId}`;
    const owned = (this.tokensByDevice.get(device) ?? []).filter((k) => this.tokens.has(k));
    owned.push(key);
    while (owned.length > MAX_TOKENS_PER_DEVICE) this.tokens.delete(owned.shift() as string);
    this.tokensByDevice.set(device, owned);
    return { token, expiresAt };
  }

  /** The device a token belongs to and the token's expiry, if it is known and unexpired. */
  verifyToken(token: string, now: number): (DeviceIdentity & { expiresAt: number }) | undefined {
    if (token.length === 0 || token.length > 128) return undefined;
    const key = digest(token);
    const entry = this.tokens.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.tokens.delete(key);
      return undefined;
    }
    return { userId: entry.userId, deviceId: entry.deviceId, expiresAt: entry.expiresAt };
  }

  prune(now: number): void {
    if (now - this.lastPrune < PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    for (const [id, entry] of this.challenges) if (entry.expiresAt <= now) this.challenges.delete(id);
    for (const [key, entry] of this.tokens) if (entry.expiresAt <= now) this.tokens.delete(key);
    for (const [device, keys] of this.tokensByDevice) {
      const live = keys.filter((k) => this.tokens.has(k));
      if (live.length === 0) this.tokensByDevice.delete(device);
      else this.tokensByDevice.set(device, live);
    }
  }
}
