/**
 * Span names, attribute names and metric names: one place, following the OpenTelemetry semantic
 * conventions for messaging (`messaging.*`), GenAI (`gen_ai.*`) and HTTP (`http.*`, `url.*`).
 */

export const TRACER_NAME = 'altlas-runner';
export const METER_NAME = 'altlas-runner';

export const SPAN = {
  /** CONSUMER span per delivery: "process <stream>". */
  process: (stream: string) => `process ${stream}`,
  /** CLIENT span per AI attempt: "<operation> <model>". */
  ai: (operation: string, model: string) => `${operation} ${model}`,
  /** The job span's event of the `.last` publish: "send <stream>". */
  send: (stream: string) => `send ${stream}`,
} as const;

export const ATTR = {
  messagingSystem: 'messaging.system',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',
  messagingDestination: 'messaging.destination.name',
  messagingMessageId: 'messaging.message.id',
  messagingConsumerGroup: 'messaging.consumer.group.name',
  messagingBodySize: 'messaging.message.body.size',
  natsDeliveryCount: 'messaging.nats.message.delivery_count',
  natsStreamSequence: 'messaging.nats.stream.sequence',
  natsStream: 'messaging.nats.stream.name',
  altId: 'altlas.alt.id',
  altForm: 'altlas.alt.form',
  taskId: 'altlas.task.id',
  taskKind: 'altlas.task.kind',
  taskStatus: 'altlas.task.status',
  taskAttempts: 'altlas.task.attempts',
  taskDurationMs: 'altlas.task.duration_ms',
  lastStatus: 'altlas.last.status',
  outcome: 'altlas.outcome',
  errorCode: 'altlas.error.code',
  errorType: 'error.type',
  genAiSystem: 'gen_ai.system',
  genAiProvider: 'gen_ai.provider.name',
  genAiOperation: 'gen_ai.operation.name',
  genAiRequestModel: 'gen_ai.request.model',
  genAiResponseModel: 'gen_ai.response.model',
  genAiUsageTotalTokens: 'gen_ai.usage.total_tokens',
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
  httpResendCount: 'http.request.resend_count',
  urlFull: 'url.full',
  serverAddress: 'server.address',
  serverPort: 'server.port',
} as const;

export const METRIC = {
  jobs: 'altlas.jobs',
  jobDuration: 'altlas.job.duration',
  taskDuration: 'altlas.task.duration',
  aiDuration: 'gen_ai.client.operation.duration',
  retries: 'altlas.retries',
  breakerState: 'altlas.ai.breaker.state',
  inFlight: 'altlas.jobs.in_flight',
  consumerPending: 'altlas.consumer.pending',
  consumerAckPending: 'altlas.consumer.ack_pending',
  backlogPending: 'altlas.backlog.pending',
  redeliveries: 'altlas.redeliveries',
  dlqRecords: 'altlas.dlq.records',
  duplicates: 'altlas.last.duplicates',
  leaseLost: 'altlas.lease.lost',
  waitingForAi: 'altlas.jobs.waiting_for_ai',
  eventLoopDelay: 'nodejs.eventloop.delay.p99',
  memory: 'process.memory.usage',
  aiTokens: 'altlas.ai.tokens',
  aiCost: 'altlas.ai.cost',
  aiCalls: 'altlas.ai.calls',
  aiFallbacks: 'altlas.ai.fallbacks',
  aiLimit: 'altlas.ai.limit',
  aiLimitSlice: 'altlas.ai.limit.slice',
  aiLimitReserved: 'altlas.ai.limit.reserved',
  aiLimitUsed: 'altlas.ai.limit.used',
  aiLimitRemaining: 'altlas.ai.limit.remaining',
  aiLimitWaiting: 'altlas.ai.limit.waiting',
  aiLimitWait: 'altlas.ai.limit.wait',
  aiRateLimited: 'altlas.ai.rate_limited',
  laneStarted: 'altlas.lane.jobs.started',
  laneWait: 'altlas.lane.wait',
  laneRunning: 'altlas.lane.jobs.running',
  laneQueued: 'altlas.lane.jobs.queued',
  historyDropped: 'altlas.history.dropped',
  paused: 'altlas.worker.paused',
  concurrency: 'altlas.worker.concurrency',
} as const;
