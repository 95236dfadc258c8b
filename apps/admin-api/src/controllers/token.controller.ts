import { Body, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { AdminController } from '../common/admin-controller';
import { Audit, AuditAction, type AuditScope } from '../common/audit';
import { AdminOnly } from '../common/auth.guard';
import { CreateTokenDto } from '../dto/misc.dto';
import { PageQueryDto } from '../dto/paging.dto';
import { TokenService } from '../services/token.service';

@AdminController('tokens', 'tokens')
@AdminOnly()
export class TokenController {
  constructor(private readonly tokens: TokenService) {}

  @Get()
  @ApiOperation({ summary: 'API tokens (never their secrets)' })
  @ApiOkResponse({ description: '{ items, total, limit, offset }' })
  list(@Query() q: PageQueryDto) {
    return this.tokens.list(q.limit, q.offset);
  }

  @Post()
  @HttpCode(201)
  @AuditAction('token.create')
  @ApiOperation({ summary: 'Create a token: the secret is in this answer only' })
  @ApiCreatedResponse({ description: 'the token with its secret (`token`)' })
  create(@Body() dto: CreateTokenDto, @Audit() scope: AuditScope) {
    return this.tokens.create(dto.name, dto.role, scope);
  }

  @Delete(':id')
  @HttpCode(204)
  @AuditAction('token.revoke')
  @ApiOperation({ summary: 'Revoke a token' })
  @ApiNoContentResponse({ description: 'revoked' })
  async revoke(@Param('id') id: string, @Audit() scope: AuditScope): Promise<void> {
    await this.tokens.revoke(id, scope);
  }
}
