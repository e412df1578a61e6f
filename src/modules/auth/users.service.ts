import { Injectable } from '@nestjs/common';
import { DomainError, NotFoundError } from '../../common/errors/domain-error.js';
import { decodeCursor, toPage, type Page } from '../../common/pagination/pagination.js';
import { Db } from '../../database/db.js';
import type { CreateUserDto, UpdateUserDto, UserResponseDto } from './dto/user.dto.js';
import { toUserResponse } from './dto/user.dto.js';
import { PrincipalCache } from './principal-cache.js';
import { UsersRepository } from './users.repository.js';

@Injectable()
export class UsersService {
  constructor(
    private readonly db: Db,
    private readonly users: UsersRepository,
    private readonly principals: PrincipalCache,
  ) {}

  async create(dto: CreateUserDto): Promise<UserResponseDto> {
    const row = await this.users.create({
      name: dto.name,
      email: dto.email,
      tier: dto.tier ?? 'free',
      role: dto.role ?? 'user',
    });
    if (!row) throw new DomainError('CONFLICT', `A user with email ${dto.email} already exists`);
    return toUserResponse(row);
  }

  async get(id: string): Promise<UserResponseDto> {
    const row = await this.users.findById(id);
    if (!row) throw new NotFoundError('User');
    return toUserResponse(row);
  }

  async list(limit: number, cursor?: string): Promise<Page<UserResponseDto>> {
    return toPage(await this.users.list(limit, decodeCursor(cursor)), limit, toUserResponse);
  }

  /** 409 for a demotion of the last admin with an active key: nobody could administer Conveyor after it. */
  async update(id: string, dto: UpdateUserDto): Promise<UserResponseDto> {
    const row = await this.db.transaction(async (tx) => {
      if (dto.role === 'user') await this.users.lockAdmins(tx);
      const updated = await this.users.update(id, dto, tx);
      if (updated) return updated;
      if (!(await this.users.findById(id, tx))) throw new NotFoundError('User');
      throw new DomainError(
        'CONFLICT',
        `User ${id} is the last admin with an active API key; demoting them would leave nobody able to administer Conveyor. Make another user an admin, with a key, first`,
      );
    });
    this.principals.clear();
    return toUserResponse(row);
  }

  /** Throws 404 unless the user exists. */
  async assertExists(id: string): Promise<void> {
    await this.get(id);
  }
}
