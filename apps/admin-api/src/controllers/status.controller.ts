import { Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { AdminController } from '../common/admin-controller';
import { AdminOnly } from '../common/auth.guard';
import { PageQueryDto } from '../dto/paging.dto';
import { StatusService } from '../services/status.service';

@AdminController('status', 'status')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  @Get()
  @ApiOperation({ summary: 'Version, database, Redis, movers, filesystems and jobs at a glance' })
  @ApiOkResponse({ description: 'the status' })
  get() {
    return this.status.status();
  }
}

@AdminController('audit', 'audit')
@AdminOnly()
export class AuditController {
  constructor(private readonly status: StatusService) {}

  @Get()
  @ApiOperation({ summary: 'The audit log, newest first (admin)' })
  @ApiOkResponse({ description: '{ items, total, limit, offset }' })
  list(@Query() q: PageQueryDto) {
    return this.status.audit(q.limit, q.offset);
  }
}
