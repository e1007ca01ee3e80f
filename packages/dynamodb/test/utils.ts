import { LocalAws } from "@aws-resilience/testkit"
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb"
import { Effect } from "effect"

/** Every item of a table, read straight from dynalite, bypassing the gateway. */
export const scanDirect = (tableName: string) =>
  Effect.flatMap(LocalAws.LocalAws, (stack) =>
    Effect.promise(async () => {
      const direct = new DynamoDBClient({
        region: stack.region,
        endpoint: stack.directEndpoints.dynamodb,
        credentials: { accessKeyId: "direct", secretAccessKey: "direct" }
      })
      const { Items = [] } = await direct.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }))
      direct.destroy()
      return Items
    }))
