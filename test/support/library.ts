// Every public layer of the library in one import, for tests that exercise several layers at once
// (an app imports them from 'pqe2ee', 'pqe2ee/crypto' and 'pqe2ee/protocol').
export * from '../../src/index.js';
export * from '../../src/crypto/index.js';
export * from '../../src/protocol/index.js';
export * from '../../src/transport/index.js';
