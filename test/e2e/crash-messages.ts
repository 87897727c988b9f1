// The IPC messages between crash.test.ts and its child process crash-child.ts (types only, so the
// child's esbuild bundle gets nothing from here).

/** Child to test. */
export type ChildMessage =
  | { type: 'ready'; userId: string; deviceId: string }
  | { type: 'error'; context: string; message: string }
  | { type: 'sent'; messageId: string }
  | { type: 'joined'; groupId: string }
  | { type: 'armed' }
  | { type: 'fatal'; message: string };

/** Test to child. */
export type ParentMessage = { type: 'send'; userId: string; body: string } | { type: 'arm'; nth: number } | { type: 'stop' };
