/**
 * The event the incident's application ingests, and the names of its resources (read from the environment the
 * stack sets on the functions).
 */
import * as Config from "effect/Config"
import * as Schema from "effect/Schema"

export const IngestEvent = Schema.Struct({
  id: Schema.String.pipe(Schema.minLength(1)),
  source: Schema.String,
  payload: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
export type IngestEvent = typeof IngestEvent.Type

export const tableName: Config.Config<string> = Config.string("EVENTS_TABLE_NAME")
export const queueUrl: Config.Config<string> = Config.string("EVENTS_QUEUE_URL")
