import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, IsUUID, Max, Min } from 'class-validator';
import { IsFilesystemName } from './validators';

export class CreateFilesystemDto {
  @ApiProperty({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', example: 'home' })
  @IsFilesystemName()
  name!: string;

  @ApiProperty({ description: 'size limit in bytes', minimum: 1, example: 10737418240 })
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  sizeBytes!: number;

  @ApiPropertyOptional({ description: 'pool id (default: the only pool)', format: 'uuid' })
  @IsOptional()
  @IsUUID()
  poolId?: string;
}

export class UpdateFilesystemDto {
  @ApiProperty({ description: 'new size limit in bytes; it can only grow', minimum: 1 })
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  sizeBytes!: number;
}

export class DeleteFilesystemQueryDto {
  @ApiPropertyOptional({ description: 'the filesystem name, repeated to confirm the deletion' })
  @IsOptional()
  @IsString()
  confirm?: string;
}
