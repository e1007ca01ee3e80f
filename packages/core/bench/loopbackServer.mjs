// A trivial DynamoDB for `loopback.bench.ts`, in a process of its own (forked): every request, once read, is
// answered `{}` with DynamoDB's content type and a request id, as PutItem is. It tells its parent its port.
import { createServer } from "node:http";

let served = 0;
const server = createServer((request, response) => {
  request.resume();
  request.once("end", () => {
    response.writeHead(200, {
      "content-type": "application/x-amz-json-1.0",
      "content-length": "2",
      "x-amzn-requestid": `loopback-${++served}`,
    });
    response.end("{}");
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
// The parent going away (the IPC channel closing) ends this process.
process.on("disconnect", () => process.exit(0));
