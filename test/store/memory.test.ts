import { createMemoryDatabase } from '../../src/store/index.js';
import { describeDatabaseBehaviour } from './behaviour.js';

describeDatabaseBehaviour('memory', async () => createMemoryDatabase());
