import { Body, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { AdminController } from '../common/admin-controller';
import { Audit, AuditAction, type AuditScope } from '../common/audit';
import { CreateJobDto } from '../dto/misc.dto';
import { JobListQueryDto } from '../dto/paging.dto';
import { JobService } from '../services/job.service';

@AdminController('jobs', 'jobs')
export class JobController {
  constructor(private readonly jobs: JobService) {}

  @Get()
  @ApiOperation({ summary: 'Jobs, newest first, optionally of one state' })
  @ApiOkResponse({ description: '{ items, total, limit, offset }' })
  list(@Query() q: JobListQueryDto) {
    return this.jobs.list(q.limit, q.offset, q.state);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One job: state, progress 0..1, detail, result or error' })
  get(@Param('id') id: string) {
    return this.jobs.get(id);
  }

  @Post()
  @HttpCode(202)
  @AuditAction('job.create')
  @ApiOperation({ summary: 'Start a scrub or an fsck of a filesystem' })
  @ApiAcceptedResponse({ description: 'the job' })
  create(@Body() dto: CreateJobDto, @Audit() scope: AuditScope) {
    return this.jobs.create(dto, scope);
  }

  @Post(':id/cancel')
  @HttpCode(202)
  @AuditAction('job.cancel')
  @ApiOperation({ summary: 'Cancel a queued or running job' })
  @ApiAcceptedResponse({ description: 'the job (cancelRequested, or cancelled)' })
  cancel(@Param('id') id: string, @Audit() scope: AuditScope) {
    return this.jobs.cancel(id, scope);
  }
}
