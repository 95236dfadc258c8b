import { Body, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { AdminController } from '../common/admin-controller';
import { Audit, AuditAction, type AuditScope } from '../common/audit';
import { CreateExportDto, UpdateExportDto } from '../dto/export.dto';
import { PageQueryDto } from '../dto/paging.dto';
import { ExportService } from '../services/export.service';

@AdminController('exports', 'exports')
export class ExportController {
  constructor(private readonly exports: ExportService) {}

  @Get()
  @ApiOperation({ summary: 'Exports' })
  @ApiOkResponse({ description: '{ items, total, limit, offset }' })
  list(@Query() q: PageQueryDto) {
    return this.exports.list(q.limit, q.offset);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One export' })
  get(@Param('id') id: string) {
    return this.exports.get(id);
  }

  @Post()
  @HttpCode(201)
  @AuditAction('export.create')
  @ApiOperation({ summary: 'Export a filesystem (movers apply it within a second)' })
  @ApiCreatedResponse({ description: 'the export' })
  create(@Body() dto: CreateExportDto, @Audit() scope: AuditScope) {
    return this.exports.create(dto, scope);
  }

  @Patch(':id')
  @AuditAction('export.update')
  @ApiOperation({ summary: 'Change an export\'s path or rules' })
  update(@Param('id') id: string, @Body() dto: UpdateExportDto, @Audit() scope: AuditScope) {
    return this.exports.update(id, dto, scope);
  }

  @Delete(':id')
  @HttpCode(204)
  @AuditAction('export.delete')
  @ApiOperation({ summary: 'Remove an export' })
  @ApiNoContentResponse({ description: 'removed' })
  async remove(@Param('id') id: string, @Audit() scope: AuditScope): Promise<void> {
    await this.exports.remove(id, scope);
  }
}
