import { Injectable, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../../config/config.js';
import { WriteMarks } from '../../database/write-marks.js';
import { JobChanges } from './job-changes.js';

/**
 * With replicas, a transition the worker makes (a job completing, a batch finishing) counts as a
 * write of the job's owner, like the owner's own requests: their next reads wait for a replica
 * that holds it, or go to the primary. So a client that polls a job, or fetches it on its
 * `job.completed` webhook, never sees it go back to `running`. Marked from the change feed right
 * after the commit (the webhook's delivery needs a claim and an HTTP round trip after that); users
 * are marked once per feed flush.
 */
@Injectable()
export class TransitionWriteMarks implements OnModuleInit {
  private pending = new Set<string>();
  private scheduled = false;

  constructor(
    private readonly changes: JobChanges,
    private readonly marks: WriteMarks,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    if (this.config.database.replicas.urls.length === 0) return;
    this.changes.subscribe((change) => {
      this.pending.add(change.userId);
      if (this.scheduled) return;
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const users = this.pending;
    this.pending = new Set();
    this.scheduled = false;
    // WriteMarks never throws (Redis failures are logged by RedisService).
    for (const userId of users) void this.marks.mark(userId);
  }
}
