import 'reflect-metadata';
import { afterAll } from 'vitest';
import { killLeftoverServices } from '../helpers/process.js';

// After each test file: no child service outlives it, whether its tests passed or not.
afterAll(killLeftoverServices);
