import { exampleSuite } from '../express-server/example-harness';

exampleSuite('nestjs', 'examples/nestjs-app/main.ts');
