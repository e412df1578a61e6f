import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { Authenticated, CurrentUser } from '../../common/auth/auth.decorators.js';
import type { Principal } from '../../common/auth/principal.js';
import { ApiProblems } from '../../common/http/api-problems.decorator.js';
import { UuidParam } from '../../common/http/validation.js';
import { PageQueryDto, pageSchema, wholeList, wholeListSchema, type Page } from '../../common/pagination/pagination.js';
import {
  CreateWebhookDto,
  DeliveryDetailDto,
  DeliveryResponseDto,
  EventTypeDto,
  ListDeliveriesQueryDto,
  RecoverDto,
  RecoverResponseDto,
  TestEventResponseDto,
  UpdateWebhookDto,
  WebhookResponseDto,
  WebhookWithSecretDto,
} from './dto/webhook.dto.js';
import { RATE_COSTS, RateCost } from '../rate-limit/rate-cost.decorator.js';
import { WebhooksService } from './webhooks.service.js';
import { CachedEndpoint } from '../../common/cache/cached-endpoint.decorator.js';

@ApiTags('Webhooks')
@Authenticated()
@ApiExtraModels(WebhookResponseDto, DeliveryResponseDto, EventTypeDto)
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  // A static path: the router matches it before /webhooks/:id.
  @Get('event-types')
  @CachedEndpoint({ ttl: 300, keyPrefix: 'webhook-event-types' })
  @ApiOperation({
    operationId: 'listWebhookEventTypes',
    summary: 'The event catalog: description, JSON Schema, example',
  })
  @ApiOkResponse({ schema: wholeListSchema(getSchemaPath(EventTypeDto)) })
  eventTypes(): Page<EventTypeDto> {
    return wholeList(this.webhooks.eventTypes());
  }

  @Post()
  @ApiOperation({
    operationId: 'createWebhook',
    summary: 'Register an endpoint; the response carries its signing secret, shown only this once',
  })
  @ApiCreatedResponse({ type: WebhookWithSecretDto })
  @ApiProblems(400, 409, 415, 422)
  create(@CurrentUser() me: Principal, @Body() dto: CreateWebhookDto): Promise<WebhookWithSecretDto> {
    return this.webhooks.create(me.userId, dto);
  }

  @Get()
  @ApiOperation({ operationId: 'listWebhooks', summary: 'Your endpoints, newest first' })
  @ApiOkResponse({ schema: pageSchema(getSchemaPath(WebhookResponseDto)) })
  @ApiProblems('INVALID_CURSOR', 422)
  list(@CurrentUser() me: Principal, @Query() query: PageQueryDto): Promise<Page<WebhookResponseDto>> {
    return this.webhooks.list(me.userId, query);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getWebhook', summary: 'One endpoint (never its secret)' })
  @ApiOkResponse({ type: WebhookResponseDto })
  @ApiProblems(400, 404)
  get(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<WebhookResponseDto> {
    return this.webhooks.get(me.userId, id);
  }

  @Put(':id')
  @ApiOperation({
    operationId: 'updateWebhook',
    summary: 'Change url, events, description or active (only the fields sent); active: true re-enables',
  })
  @ApiOkResponse({ type: WebhookResponseDto })
  @ApiProblems(400, 404, 415, 422)
  update(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Body() dto: UpdateWebhookDto,
  ): Promise<WebhookResponseDto> {
    return this.webhooks.update(me.userId, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteWebhook',
    summary: 'Delete an endpoint; its pending deliveries end failed, unsent',
  })
  @ApiNoContentResponse()
  @ApiProblems(400, 404)
  remove(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<void> {
    return this.webhooks.remove(me.userId, id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'rotateWebhookSecret',
    summary: 'New signing secret (shown once); the old one keeps signing alongside it for 24 h',
  })
  @ApiOkResponse({ type: WebhookWithSecretDto })
  @ApiProblems(400, 404)
  rotateSecret(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<WebhookWithSecretDto> {
    return this.webhooks.rotateSecret(me.userId, id);
  }

  @Post(':id/test')
  @HttpCode(202)
  @RateCost(RATE_COSTS.webhookTest)
  @ApiOperation({ operationId: 'testWebhook', summary: 'Send a webhook.test event to this endpoint' })
  @ApiAcceptedResponse({ type: TestEventResponseDto })
  @ApiProblems(400, 404, 409)
  sendTest(@CurrentUser() me: Principal, @Param('id', UuidParam) id: string): Promise<TestEventResponseDto> {
    return this.webhooks.sendTest(me.userId, id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ operationId: 'listWebhookDeliveries', summary: 'Deliveries to this endpoint, newest first' })
  @ApiOkResponse({ schema: pageSchema(getSchemaPath(DeliveryResponseDto)) })
  @ApiProblems(400, 'INVALID_CURSOR', 404, 422)
  listDeliveries(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Query() query: ListDeliveriesQueryDto,
  ): Promise<Page<DeliveryResponseDto>> {
    return this.webhooks.listDeliveries(me.userId, id, query);
  }

  @Get(':id/deliveries/:deliveryId')
  @ApiOperation({ operationId: 'getWebhookDelivery', summary: 'One delivery with every attempt' })
  @ApiOkResponse({ type: DeliveryDetailDto })
  @ApiProblems(400, 404)
  getDelivery(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Param('deliveryId', new UuidParam('deliveryId')) deliveryId: string,
  ): Promise<DeliveryDetailDto> {
    return this.webhooks.getDelivery(me.userId, id, deliveryId);
  }

  @Post(':id/deliveries/:deliveryId/retry')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'retryWebhookDelivery',
    summary: 'Send a failed delivery again now, with a fresh retry schedule',
  })
  @ApiAcceptedResponse({ type: DeliveryResponseDto })
  @ApiProblems(400, 404, 409)
  retryDelivery(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Param('deliveryId', new UuidParam('deliveryId')) deliveryId: string,
  ): Promise<DeliveryResponseDto> {
    return this.webhooks.retryDelivery(me.userId, id, deliveryId);
  }

  @Post(':id/events/:eventId/replay')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'replayWebhookEvent',
    summary: 'Deliver one of your events to this endpoint again, as a new delivery (same webhook-id)',
  })
  @ApiParam({ name: 'eventId', example: 'evt_0b5c2f0e8d1a4c559a432f6f1b7f0c11' })
  @ApiAcceptedResponse({ type: DeliveryResponseDto })
  @ApiProblems(400, 404, 409)
  replayEvent(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Param('eventId') eventId: string,
  ): Promise<DeliveryResponseDto> {
    return this.webhooks.replayEvent(me.userId, id, eventId);
  }

  @Post(':id/recover')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'recoverWebhookDeliveries',
    summary: 'Send again every failed delivery created in [since, until)',
  })
  @ApiAcceptedResponse({ type: RecoverResponseDto })
  @ApiProblems(400, 404, 409, 415, 422)
  recover(
    @CurrentUser() me: Principal,
    @Param('id', UuidParam) id: string,
    @Body() dto: RecoverDto,
  ): Promise<RecoverResponseDto> {
    return this.webhooks.recover(me.userId, id, dto);
  }
}
