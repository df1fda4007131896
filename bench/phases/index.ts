// Every phase, by the name `--phases=` gives it; adding one is a file and a line here.
import type { PhaseName } from '../args';
import { http } from './http';
import { length } from './length';
import { memory } from './memory';
import { operations } from './operations';
import type { Phase } from './phase';
import { users } from './users';

export const PHASES: Record<PhaseName, Phase> = { operations, length, http, memory, users };
