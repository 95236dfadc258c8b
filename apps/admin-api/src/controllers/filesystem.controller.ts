import { Body, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { AdminController } from '../common/admin-controller';
import { Audit, AuditAction, type AuditScope } from '../common/audit';
import { CreateFilesystemDto, DeleteFilesystemQueryDto, UpdateFilesystemDto } from '../dto/filesystem.dto';
import { PageQueryDto } from '../dto/paging.dto';
import { FilesystemService } from '../services/filesystem.service';

@AdminController('filesystems', 'filesystems')
export class FilesystemController {
  constructor(private readonly filesystems: FilesystemService) {}

  @Get()
  @ApiOperation({ summary: 'Filesystems with usage from the engine' })
  @ApiOkResponse({ description: '{ items, total, limit, offset }' })
  list(@Query() q: PageQueryDto) {
    return this.filesystems.list(q.limit, q.offset);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One filesystem' })
  get(@Param('id') id: string) {
    return this.filesystems.get(id);
  }

  @Post()
  @HttpCode(202)
  @AuditAction('filesystem.create')
  @ApiOperation({ summary: 'Create a filesystem: answers at once with the format job' })
  @ApiAcceptedResponse({ description: '{ filesystem, job }' })
  create(@Body() dto: CreateFilesystemDto, @Audit() scope: AuditScope) {
    return this.filesystems.create(dto, scope);
  }

  @Patch(':id')
  @AuditAction('filesystem.grow')
  @ApiOperation({ summary: 'Grow the size limit (422 to shrink)' })
  grow(@Param('id') id: string, @Body() dto: UpdateFilesystemDto, @Audit() scope: AuditScope) {
    return this.filesystems.grow(id, dto.sizeBytes, scope);
  }

  @Delete(':id')
  @HttpCode(204)
  @AuditAction('filesystem.delete')
  @ApiOperation({ summary: 'Delete an unexported filesystem; ?confirm= must repeat its name' })
  @ApiNoContentResponse({ description: 'deleted' })
  async delete(@Param('id') id: string, @Query() q: DeleteFilesystemQueryDto, @Audit() scope: AuditScope): Promise<void> {
    await this.filesystems.delete(id, q.confirm, scope);
  }
}
