import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Matches, Max, Min } from 'class-validator';
import { TOKEN_ROLES, type TokenRole } from '@ferry/control';
import { IsDevicePath } from './validators';

export const JOB_TYPES_BY_API = ['scrub', 'fsck'] as const;

export class AddDeviceDto {
  @ApiProperty({ description: 'absolute path of a file or block device', example: '/var/lib/ferry/pool1.img' })
  @IsDevicePath()
  path!: string;

  @ApiProperty({ description: 'bytes (a file is created or extended to this size)', minimum: 1 })
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  sizeBytes!: number;
}

export class CreateJobDto {
  @ApiProperty({ enum: JOB_TYPES_BY_API })
  @IsIn(JOB_TYPES_BY_API)
  type!: (typeof JOB_TYPES_BY_API)[number];

  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  filesystemId!: string;

  @ApiPropertyOptional({ description: 'the same key answers the job made first with it', maxLength: 200 })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  idempotencyKey?: string;
}

export class CreateTokenDto {
  @ApiProperty({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', example: 'ci' })
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, { message: 'name must be 1 to 63 characters of A-Z, a-z, 0-9, ".", "_" and "-"' })
  name!: string;

  @ApiProperty({ enum: TOKEN_ROLES })
  @IsIn(TOKEN_ROLES)
  role!: TokenRole;
}
