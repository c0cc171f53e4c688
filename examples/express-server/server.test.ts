import { exampleSuite } from './example-harness';

exampleSuite('express', 'examples/express-server/server.ts');
