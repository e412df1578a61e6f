import { InitialSchema1764300000000 } from './1764300000000-InitialSchema.js';
import { PerformanceIndexes1764300000001 } from './1764300000001-PerformanceIndexes.js';
import { RetentionOnlyCreatedAtIndex1764300000002 } from './1764300000002-RetentionOnlyCreatedAtIndex.js';
import { WebhookOutbox1764300000003 } from './1764300000003-WebhookOutbox.js';
import { BatchAndPipelineSupport1764300000004 } from './1764300000004-BatchAndPipelineSupport.js';
import { UsageMonthly1764300000005 } from './1764300000005-UsageMonthly.js';
import { QueuedByUserIndex1764300000006 } from './1764300000006-QueuedByUserIndex.js';
import { ClaimRunningCount1764300000007 } from './1764300000007-ClaimRunningCount.js';
import { RunCreditsHeld1764300000008 } from './1764300000008-RunCreditsHeld.js';

/** Every migration, in order. Listed explicitly so the same list works from `src` (tests) and `dist`. */
export const MIGRATIONS = [
  InitialSchema1764300000000,
  PerformanceIndexes1764300000001,
  RetentionOnlyCreatedAtIndex1764300000002,
  WebhookOutbox1764300000003,
  BatchAndPipelineSupport1764300000004,
  UsageMonthly1764300000005,
  QueuedByUserIndex1764300000006,
  ClaimRunningCount1764300000007,
  RunCreditsHeld1764300000008,
];
