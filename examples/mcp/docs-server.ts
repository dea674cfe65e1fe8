// The example MCP upstream of policies/mcp/docs.yaml: read-only search over this repository's docs/
// and README. Usage: node examples/mcp/docs-server.ts [dir-or-file ...] (the same server as
// `portcullis mcp-docs-server`).
import { serveDocs } from '../../src/cli/docs-server.ts';

await serveDocs(process.argv.slice(2));
