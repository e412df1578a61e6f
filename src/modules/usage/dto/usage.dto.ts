import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';

const MONTH = /^(19[7-9]\d|[2-9]\d{3})-(0[1-9]|1[0-2])$/;

export class UsageQueryDto {
  @ApiPropertyOptional({ example: '2026-11', description: 'Calendar month (UTC), `YYYY-MM`; default the current one' })
  @IsOptional()
  @Matches(MONTH, { message: 'month must be YYYY-MM, from 1970-01 to 9999-12' })
  month?: string;
}

export class UsageExportQueryDto extends UsageQueryDto {
  @ApiPropertyOptional({ enum: ['csv', 'json'], default: 'csv' })
  @IsOptional()
  @IsIn(['csv', 'json'])
  format: 'csv' | 'json' = 'csv';
}

export class CreditsDto {
  @ApiProperty({ example: 1000, description: 'Credits of the tier for one month' }) limit: number;
  @ApiProperty({ example: 42 }) used: number;
  @ApiProperty({ example: 958 }) left: number;
}

export class JobTypeUsageDto {
  @ApiProperty({ example: 'hash' }) jobType: string;
  @ApiProperty({ example: 40 }) jobs: number;
  @ApiProperty({ example: 40 }) credits: number;
}

export class UsageResponseDto {
  @ApiProperty({ example: '2026-11' }) month: string;
  @ApiProperty({ enum: ['free', 'pro', 'enterprise'] }) tier: string;
  @ApiProperty({ type: CreditsDto }) credits: CreditsDto;
  @ApiProperty({ type: [JobTypeUsageDto] }) byJobType: JobTypeUsageDto[];
}

export class UsageExportRowDto {
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty({ example: '2026-11-28', description: 'Day (UTC)' }) date: string;
  @ApiProperty({ example: 'hash' }) jobType: string;
  @ApiProperty({ example: 12 }) jobs: number;
  @ApiProperty({ example: 12 }) credits: number;
}

export class UsageExportDto {
  @ApiProperty({ example: '2026-11' }) month: string;
  @ApiProperty({ type: [UsageExportRowDto] }) data: UsageExportRowDto[];
}

export class UserUsageDto {
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty() email: string;
  @ApiProperty({ enum: ['free', 'pro', 'enterprise'] }) tier: string;
  @ApiProperty({ type: CreditsDto }) credits: CreditsDto;
}

export class AdminUsageDto {
  @ApiProperty({ example: '2026-11' }) month: string;
  @ApiProperty({ type: [UserUsageDto], description: 'Users with credits used this month, most first' })
  data: UserUsageDto[];
}
