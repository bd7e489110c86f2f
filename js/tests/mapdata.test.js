import assert from "node:assert/strict";
import { test } from "node:test";
import { needsFit } from "../mapdata.js";

test("a grid that grows a little keeps the view; any other change fits the new map", () => {
  assert.equal(needsFit(10, 12, 10, 12), false);
  assert.equal(needsFit(10, 12, 11, 12), false, "a row added for new images");
  assert.equal(needsFit(10, 12, 12, 15), false);
  assert.equal(needsFit(10, 12, 13, 12), true, "grew by more than a quarter");
  assert.equal(needsFit(10, 12, 9, 12), true, "shrank");
  assert.equal(needsFit(1, 1, 8, 8), true, "the first map");
});
