/** Colours and names of the run events drawn as marks on the step axis: the live charts, the events list and history.svg (kept in step with the legend in index.html). */
import type { RunEventName } from '@convoy/core';

export const EVENT_STYLE: Readonly<Record<RunEventName, { color: string; dash: number[]; label: string }>> = {
  join: { color: '#2b8a3e', dash: [], label: 'join' },
  leave: { color: '#868e96', dash: [4, 3], label: 'leave' },
  death: { color: '#c92a2a', dash: [], label: 'death' },
  'deadline-miss': { color: '#e67700', dash: [2, 3], label: 'deadline miss' },
  'refused-answer': { color: '#d6336c', dash: [1, 2], label: 'refused answer' },
  demotion: { color: '#5c940d', dash: [3, 2], label: 'demotion' },
  'coordinator-restart': { color: '#7048e8', dash: [6, 3], label: 'coordinator restart' },
  stall: { color: '#862e9c', dash: [1, 1], label: 'stall' },
  'replica-drift': { color: '#0b7285', dash: [1, 3], label: 'replica drift' },
};
