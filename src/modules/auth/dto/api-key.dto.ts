import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import type { ApiKeyRow } from '../api-keys.repository.js';

export class CreateApiKeyDto {
  @ApiPropertyOptional({ example: 'ci-pipeline', maxLength: 100 })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  name?: string;
}

export class ApiKeyResponseDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ nullable: true, type: String, example: 'ci-pipeline' })
  name: string | null;

  @ApiProperty({ description: 'First characters of the key, to tell keys apart', example: 'cvk_Xb3k9Q' })
  prefix: string;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  lastUsedAt: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  revokedAt: string | null;
}

export class CreatedApiKeyResponseDto extends ApiKeyResponseDto {
  @ApiProperty({
    description: 'The API key. Shown only in this response: store it now; it cannot be retrieved again.',
    example: 'cvk_Xb3k9QeM1rJ0vUu7e3sV4yq8Yb2nT5cW6dR9fK1gH0a',
  })
  key: string;
}

export function toApiKeyResponse(row: ApiKeyRow): ApiKeyResponseDto {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}
