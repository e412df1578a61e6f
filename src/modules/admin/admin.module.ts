import { Module } from '@nestjs/common';
import { AdminController } from './admin.controller.js';

/** Admin-only management of users and keys (the services live in the auth module). */
@Module({ controllers: [AdminController] })
export class AdminModule {}
