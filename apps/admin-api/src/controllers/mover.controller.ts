import { Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { AdminController } from '../common/admin-controller';
import { Audit, AuditAction, type AuditScope } from '../common/audit';
import { PageQueryDto } from '../dto/paging.dto';
import { MoverService } from '../services/mover.service';

@AdminController('movers', 'movers')
export class MoverController {
  constructor(private readonly movers: MoverService) {}

  @Get()
  @ApiOperation({ summary: 'Data movers: healthy (heartbeat within 10 s) and the filesystems each owns' })
  @ApiOkResponse({ description: '{ items, total, limit, offset }' })
  list(@Query() q: PageQueryDto) {
    return this.movers.list(q.limit, q.offset);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One mover' })
  get(@Param('id') id: string) {
    return this.movers.get(id);
  }

  @Post(':id/drain')
  @HttpCode(200)
  @AuditAction('mover.drain')
  @ApiOperation({ summary: 'Drain a mover (its filesystems move away)' })
  drain(@Param('id') id: string, @Audit() scope: AuditScope) {
    return this.movers.drain(id, scope);
  }
}
