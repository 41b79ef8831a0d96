/** Loaded with `node --import` before anything else: starts the OpenTelemetry SDK (see sdk.ts). */
import { startTelemetry } from './sdk.ts';

await startTelemetry();
