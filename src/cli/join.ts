import { Command } from '@commander-js/extra-typings';
import { joinShards } from '../foresight/join.js';
import { runAction, say } from './action.js';

/** `genius join`: shard outputs of `genius sample` as one file in query order. */
export function joinCommand() {
  return new Command('join')
    .description('join shard outputs of genius sample into one file in query order')
    .requiredOption('--out <file>', 'joined JSONL')
    .argument('<shards...>', 'shard files')
    .action((shards, o, cmd) =>
      runAction(cmd, () => {
        const r = joinShards(o.out, shards);
        say(`join: ${r.records} records from ${shards.length} shards written to ${o.out}`);
      }),
    );
}
