import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { EXPORT_ACCESS, type ExportAccess } from '@ferry/control';
import { IsClientPatterns, IsExportPath } from './validators';

const MAX_CLIENTS = 256;
const MAX_ID = 4294967295;

/** The rule fields an export has besides its path and clients; all optional (defaults below). */
export class ExportRulesDto {
  @ApiPropertyOptional({ enum: EXPORT_ACCESS })
  @IsOptional()
  @IsIn(EXPORT_ACCESS)
  access?: ExportAccess;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  rootSquash?: boolean;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  allSquash?: boolean;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_ID })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_ID)
  anonUid?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_ID })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_ID)
  anonGid?: number;

  @ApiPropertyOptional({ description: 'require a client port below 1024' })
  @IsOptional()
  @IsBoolean()
  secure?: boolean;
}

export class UpdateExportDto extends ExportRulesDto {
  @ApiPropertyOptional({ description: 'absolute, normalised, at most 1024 bytes', example: '/home' })
  @IsOptional()
  @IsExportPath()
  path?: string;

  @ApiPropertyOptional({ type: [String], description: '"*", IP addresses or CIDR blocks', example: ['10.0.0.0/8'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_CLIENTS)
  @IsClientPatterns()
  clients?: string[];
}

export class CreateExportDto extends ExportRulesDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  filesystemId!: string;

  @ApiProperty({ description: 'absolute, normalised, at most 1024 bytes', example: '/home' })
  @IsExportPath()
  path!: string;

  @ApiProperty({ type: [String], description: '"*", IP addresses or CIDR blocks', example: ['10.0.0.0/8'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_CLIENTS)
  @IsClientPatterns()
  clients!: string[];
}
