import { Body, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { AdminController } from '../common/admin-controller';
import { Audit, AuditAction, type AuditScope } from '../common/audit';
import { AddDeviceDto } from '../dto/misc.dto';
import { PageQueryDto } from '../dto/paging.dto';
import { PoolService } from '../services/pool.service';

@AdminController('pools', 'pools')
export class PoolController {
  constructor(private readonly pools: PoolService) {}

  @Get()
  @ApiOperation({ summary: 'Pools with their devices, capacity and use' })
  @ApiOkResponse({ description: '{ items, total, limit, offset }' })
  list(@Query() q: PageQueryDto) {
    return this.pools.list(q.limit, q.offset);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One pool' })
  get(@Param('id') id: string) {
    return this.pools.get(id);
  }

  @Post(':id/devices')
  @HttpCode(201)
  @AuditAction('pool.device.add')
  @ApiOperation({ summary: 'Add a device: the pool grows online' })
  @ApiCreatedResponse({ description: 'the pool with the new device' })
  addDevice(@Param('id') id: string, @Body() dto: AddDeviceDto, @Audit() scope: AuditScope) {
    return this.pools.addDevice(id, dto, scope);
  }
}
