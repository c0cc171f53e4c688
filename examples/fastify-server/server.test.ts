import { exampleSuite } from '../express-server/example-harness';

exampleSuite('fastify', 'examples/fastify-server/server.ts');
